"""Views: readers of the broker that show the site to people (floor board, watch)."""
