"""The product URL check answers exactly what URL_PATTERN says of the whole URL, also the second time
(when the authority's answer comes from the process's memo)."""

import random

from catalog.product_input import _is_url, _is_whole_url

PARTS = [
    *("http://", "https://", "HTTPS://", "ftp://", "https:/", "", "user@", "u:p@", "@"),
    *("example.com", "EXAMPLE.COM", "xn--bcher-kva.de", "bücher.de", "localhost", "127.0.0.1", "256.1.1.1"),
    *("[::1]", "a", "a.b", "-a.com", "ex_ample.com", ":80", ":65535", ":65536", ":", "/", "/p a", "/p\x00"),
    *("?q=1", "#f", "/ok/path", " ", "\t", "\u00a0", "/é", ".", "..", "com."),
]


def test_the_url_check_agrees_with_the_whole_pattern():
    generator = random.Random(11)
    accepted = 0
    for _ in range(20_000):
        text = "".join(generator.choice(PARTS) for _ in range(generator.randint(1, 6)))
        expected = _is_whole_url(text)
        assert _is_url(text) == expected, repr(text)
        assert _is_url(text) == expected, repr(text)
        accepted += expected
    assert accepted > 50  # the mix holds valid URLs too, not only refusals
