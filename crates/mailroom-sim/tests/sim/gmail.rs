//! Gmail API v1: behaviour and conformance to the discovery document.
