"""The Model screen's views: the attention X-ray, the perturbation probe and the sizing lens."""
