"""quality/embed"""
