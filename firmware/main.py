# Boots the beacon. Everything lives in the beacon package (compiled to .mpy
# by `focuslight flash`); main.py stays source and tiny.
from beacon import app

app.main()
