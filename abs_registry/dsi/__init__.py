"""Digital sequence information: sequence files declared with a DSI record, and their tracing."""
