"""The reference reading of the mail corpus for the differential test in corpus.rs.

Reads every .eml of the tarball named by the first argument with Python's email package
(policy.default, the modern API) and prints one JSON object per message, in archive order,
with the fields mailroom-mime is compared on. Nothing here judges which reading is right:
that is the test's and mime-differences.txt's business.
"""

import email
import email.policy
import html.parser
import json
import sys
import tarfile

# What the reader drops with its content (the sanitiser's list in src/sanitize.rs), and style
# sheets: their text is never shown, so it is no body text on either side. (Not <head>: a browser
# shows the text of a head left open, and so does the reader.)
HIDDEN = {
    "script", "style", "title", "noscript", "noembed", "noframes", "iframe", "frame", "frameset",
    "object", "applet", "template", "svg", "math", "select", "datalist",
}


class TextOfHtml(html.parser.HTMLParser):
    """The visible text of HTML, by the standard library's tokenizer: character references
    decoded, the content of hidden elements left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hidden = 0
        self.parts = []

    def handle_starttag(self, tag, attrs):
        if tag in HIDDEN:
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in HIDDEN and self.hidden > 0:
            self.hidden -= 1

    def handle_data(self, data):
        if self.hidden == 0:
            self.parts.append(data)


def html_text(markup):
    parser = TextOfHtml()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # noqa: BLE001 - the tokenizer's own limits; keep what it read
        pass
    return " ".join(parser.parts)


def field(read):
    """A field's value, or None when Python cannot read it (an exception is its answer)."""
    try:
        return read()
    except Exception:  # noqa: BLE001
        return None


def addresses(message, name):
    out = []
    for header in message.get_all(name) or []:
        for address in field(lambda: header.addresses) or ():
            out.append(address.addr_spec)
    return out


def date(message):
    header = message["date"]
    if header is None or header.datetime is None:
        return None
    moment = header.datetime
    if moment.tzinfo is None:
        # A date without a zone (or with -0000) names UTC time, as RFC 5322 reads it.
        moment = moment.replace(tzinfo=__import__("datetime").timezone.utc)
    return int(moment.timestamp())


def content(part):
    try:
        return part.get_content()
    except Exception:  # noqa: BLE001 - an unknown charset: the bytes as UTF-8, as far as they go
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def body(message):
    part = field(lambda: message.get_body(preferencelist=("plain", "html")))
    if part is None:
        return None, None
    text = content(part)
    if not isinstance(text, str):
        return None, None
    if part.get_content_type() == "text/html":
        return "html", html_text(text)
    return "plain", text


def attachment_names(message, bodies):
    """File names of the parts that are not the bodies, messages inside not entered."""
    names = []
    stack = [message]
    while stack:
        part = stack.pop()
        if part.is_multipart() and (part is message or part.get_content_maintype() != "message"):
            stack.extend(reversed(part.get_payload()))
            continue
        if any(part is b for b in bodies):
            continue
        name = field(part.get_filename)
        if name:
            names.append(name)
    return names


def read(path, raw):
    message = email.message_from_bytes(raw, policy=email.policy.default)
    plain = field(lambda: message.get_body(preferencelist=("plain",)))
    rich = field(lambda: message.get_body(preferencelist=("html",)))
    body_type, body_text = body(message)
    return {
        "path": path,
        "message_id": field(lambda: message["message-id"] and str(message["message-id"])),
        "subject": field(lambda: message["subject"] and str(message["subject"])),
        "from": addresses(message, "from"),
        "to": addresses(message, "to"),
        "cc": addresses(message, "cc"),
        "date": field(lambda: date(message)),
        "has_text": plain is not None,
        "has_html": rich is not None,
        "attachments": attachment_names(message, [b for b in (plain, rich) if b is not None]),
        "body_type": body_type,
        # The test compares the first hundred characters that are not white space.
        "body": body_text[:4000] if body_text is not None else None,
    }


def printable(value):
    """Strings made valid UTF-8: bytes Python kept undecoded (as surrogate escapes) are decoded as UTF-8,
    what is not UTF-8 becoming U+FFFD, which is how Python shows such a header."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(value, list):
        return [printable(v) for v in value]
    if isinstance(value, dict):
        return {k: printable(v) for k, v in value.items()}
    return value


def main():
    with tarfile.open(sys.argv[1], "r:gz") as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith(".eml"):
                continue
            raw = archive.extractfile(member).read()
            print(json.dumps(printable(read(member.name, raw)), ensure_ascii=False))


if __name__ == "__main__":
    main()
