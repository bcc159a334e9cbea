"""Tables, figures and the published numbers they are compared with."""
