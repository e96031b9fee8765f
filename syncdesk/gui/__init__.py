"""The desktop app (PySide6 + pyqtgraph): views that display an Analysis and workers that call core."""
