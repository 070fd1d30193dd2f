"""The Train screen's widgets: the form, plots, samples, training X-ray and validation tape."""
