"""Traditional knowledge under the control of the communities that hold it (issue 7).

A TK record (declarations/models.py TKRecord) has a public summary and a protected body;
this package adds what the community controls around it: labels, translations, attachments,
access grants, the log of who read the body, and the prior-art look-up without disclosure.
"""
