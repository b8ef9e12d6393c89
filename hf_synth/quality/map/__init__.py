"""Coverage map: a 2-D picture of where synthetic rows sit on a reference set (PNG for the card, HTML to
explore). Entry point: `render_coverage_map`."""

from hf_synth.quality.map.render import HTML_NAME, PNG_NAME, render_coverage_map

__all__ = ["HTML_NAME", "PNG_NAME", "render_coverage_map"]
