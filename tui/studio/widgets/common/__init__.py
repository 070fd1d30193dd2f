"""Widgets several screens share: plots and their axis, bars, cells, the notice line, the
runner view, the candidate panel and the prediction tape."""
