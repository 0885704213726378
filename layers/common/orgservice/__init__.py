"""Domain package of the organization management service, shared by every function through the layer."""
