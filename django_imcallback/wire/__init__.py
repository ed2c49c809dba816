"""What goes over the wire as Go puts it there: the field kit for bodies (``fields``), Go's
JSON encoding and decoding (``golang``), and a model of how the server reads an answer
(``server.read_answer``)."""
