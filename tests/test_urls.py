"""URLs as users have them -> base URL, Socket.IO path, conversation id."""

import pytest

from ohnb.urls import parse_address


@pytest.mark.parametrize(
    "url,cid,base,path,want_id",
    [
        ("http://127.0.0.1:3000", "abc", "http://127.0.0.1:3000", "/socket.io", "abc"),
        ("https://app.example.com/", "abc", "https://app.example.com", "/socket.io", "abc"),
        ("wss://host:8443/runtime/r1", "abc", "https://host:8443", "/runtime/r1/socket.io", "abc"),
        ("ws://host/api/conversations/c9", None, "http://host", "/socket.io", "c9"),
        ("https://h/runtime/x/api/conversations/c9/", None, "https://h", "/runtime/x/socket.io", "c9"),
        ("http://h:3000/conversations/c7", None, "http://h:3000", "/socket.io", "c7"),
        ("http://h:3000/socket.io", "c1", "http://h:3000", "/socket.io", "c1"),
    ],
)
def test_parse_address(url, cid, base, path, want_id):
    address = parse_address(url, cid)
    assert (address.base_url, address.socketio_path, address.conversation_id) == (base, path, want_id)


@pytest.mark.parametrize(
    "url,cid,message",
    [
        ("ftp://h", "c", "must start with"),
        ("localhost:3000", "c", "must start with"),
        ("http://h", None, "no conversation id"),
        ("http://h/api/conversations/a", "b", "differs"),
        ("", "c", "non-empty"),
    ],
)
def test_bad_urls_are_explained(url, cid, message):
    with pytest.raises(ValueError, match=message):
        parse_address(url, cid)


def test_a_key_in_a_bad_url_is_not_echoed():
    with pytest.raises(ValueError) as info:
        parse_address("ftp://h/x?session_api_key=SECRET", "c")
    assert "SECRET" not in str(info.value)
