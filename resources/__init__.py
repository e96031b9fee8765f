"""Installed as ``syncdesk.resources``: the icon, its PNG sizes and the style sheet. Load them with ``syncdesk.assets``."""
