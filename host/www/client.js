// placeholder: the moonhost browser/Node client lands with the call-semantics work
