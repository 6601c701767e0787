"""MQTT plumbing shared by every part that talks to a broker: broker settings,
the one paho client factory, the outbox."""
