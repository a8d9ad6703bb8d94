//! Microsoft Graph v1.0 mail: behaviour and conformance to the documented shapes.
