"""edge_cases"""
