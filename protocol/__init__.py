"""Results document, canonical encoding, sign + encrypt, modem driver, CEC receiver.

Not yet built; see the open issues.
"""
