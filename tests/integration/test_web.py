"""The dashboard as the server serves it (SPEC §13): pages at every deep link, hashed
assets compiled into the binary, caching, gzip, the Content-Security-Policy, no external
references, the size budget. What the page does is tested in a browser
(tests/browser/)."""
import gzip
import html as htmllib
import json
import http.client
import re

import pytest

from harness import assert_error

PAGES = ["/", "/incidents", "/incidents/42", "/silences", "/gates", "/signin",
         "/?status=open&severity=sev1&q=a%20b", "/signin?next=%2Fincidents%2F7"]


def fetch(server, path, method="GET", headers=None):
    """→ (status, {lower-case name: value}, raw body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def csp_directives(value):
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assets_of(index_html):
    return re.findall(r'(?:src|href)="(/assets/[^"]+)"', index_html)


@pytest.fixture(scope="module")
def site(shared_server):
    st, h, body = fetch(shared_server, "/")
    assert st == 200, body
    index = body.decode("utf-8")
    files = {}
    pending = assets_of(index)
    while pending:
        path = pending.pop()
        if path in files:
            continue
        st, ah, ab = fetch(shared_server, path)
        assert st == 200, (path, st, ab[:200])
        files[path] = (ah, ab)
        if path.endswith(".js"):
            # relative module imports resolve to other hashed assets
            for spec in re.findall(r"""(?:from\s*|import\s*\(\s*|import\s+)["'](\./[^"']+)["']""",
                                   ab.decode("utf-8")):
                pending.append("/assets/" + spec[2:])
        if path.endswith(".css"):
            for spec in re.findall(r"""url\(\s*["']?\./([^"')]+)""", ab.decode("utf-8")):
                pending.append("/assets/" + spec)
    return shared_server, h, index, files


def test_every_page_path_serves_the_index_without_auth(shared_server):
    first = None
    for p in PAGES:
        st, h, body = fetch(shared_server, p)
        assert st == 200, (p, st, body[:200])
        assert h["content-type"] == "text/html; charset=utf-8", p
        assert h["cache-control"] == "private, no-cache", p
        first = first or body
        assert body == first, f"{p} serves another page"
    st, h, body = fetch(shared_server, "/", method="HEAD")
    assert st == 200 and body == b"" and int(h["content-length"]) == len(first)


def test_paths_outside_the_app_are_not_pages(shared_server):
    for p in ["/nope", "/incidents/abc", "/incidents/0", "/incidents/1/x", "/assets/app.js",
              "/assets/index.html", "/assets/app.000000000000.js"]:
        st, h, body = fetch(shared_server, p)
        assert st == 404, (p, st)
        assert h["content-type"].startswith("application/json"), p
    st, _, body = fetch(shared_server, "/", method="POST")
    assert st == 405


def test_strict_content_security_policy(site):
    _, h, index, files = site
    for headers in [h] + [ah for ah, _ in files.values()]:
        d = csp_directives(headers["content-security-policy"])
        assert d["default-src"] == ["'self'"]
        assert d["script-src"] == ["'self'"], d  # no 'unsafe-inline', no 'unsafe-eval'
        assert d["style-src"] == ["'self'"], d
        assert d["connect-src"] == ["'self'"] and d["frame-ancestors"] == ["'none'"]
        assert d["object-src"] == ["'none'"] and d["base-uri"] == ["'none'"]
        assert headers["x-content-type-options"] == "nosniff"
    # no inline script or style: every <script> has a src and an empty body
    for attrs, inner in re.findall(r"<script\b([^>]*)>(.*?)</script>", index, re.S | re.I):
        assert "src=" in attrs and not inner.strip(), attrs
    assert not re.search(r"<style\b", index, re.I)
    assert not re.search(r"\sstyle\s*=", index, re.I)
    assert not re.search(r"\son[a-z]+\s*=", index, re.I), "inline event handler"
    assert re.search(r'<script type="module" src="/assets/app\.[0-9a-f]{12}\.js">', index)


def test_assets_have_hashed_names_and_live_for_a_year(site):
    _, _, _, files = site
    assert any(p.endswith(".js") for p in files) and any(p.endswith(".css") for p in files)
    for path, (h, body) in files.items():
        assert re.fullmatch(r"/assets/[a-z0-9_-]+\.[0-9a-f]{12}\.[a-z]+", path), path
        assert h["cache-control"] == "public, max-age=31536000, immutable", path
        types = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
                 "svg": "image/svg+xml", "png": "image/png"}
        assert h["content-type"] == types[path.rsplit(".", 1)[1]], path
        assert body, path


def test_gzip_is_sent_to_clients_that_accept_it(site):
    server, _, index, files = site
    big = max(files, key=lambda p: len(files[p][1]))
    plain = files[big][1]
    for ae, want_gzip in [("gzip", True), ("br, gzip;q=0.5", True), ("*", True),
                          ("gzip;q=0", False), ("identity", False), ("br", False)]:
        st, h, body = fetch(server, big, headers={"Accept-Encoding": ae})
        assert st == 200
        assert h.get("vary") == "Accept-Encoding"
        if want_gzip:
            assert h.get("content-encoding") == "gzip", ae
            assert gzip.decompress(body) == plain and len(body) < len(plain)
        else:
            assert "content-encoding" not in h, ae
            assert body == plain
    st, h, body = fetch(server, "/incidents/3", headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(body).decode("utf-8") == index


def test_the_whole_page_fits_in_150_kb_compressed(site):
    server, _, index, files = site
    total = len(gzip.compress(index.encode("utf-8")))
    for path in files:
        st, h, body = fetch(server, path, headers={"Accept-Encoding": "gzip"})
        total += len(body)
    print(f"dashboard: {len(files) + 1} files, {total} bytes compressed")
    assert total <= 150 * 1024, total


def test_no_reference_to_another_host(site):
    _, _, index, files = site
    texts = {"/": index}
    texts.update({p: b.decode("utf-8") for p, (h, b) in files.items()
                  if not p.endswith(".png")})
    for path, text in texts.items():
        # the SVG namespace names a URI but fetches nothing
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        found = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I)
        found = [f for f in found if not f.startswith("//")]  # comments like // foo.bar
        assert not found, (path, found)
        assert "@import" not in text and "fonts." not in text, path
    for path, (h, b) in files.items():
        if path.endswith(".js"):
            t = b.decode("utf-8")
            assert "eval(" not in t and "new Function" not in t, path
            assert "localStorage.setItem(\"token" not in t, path


def test_web_off_serves_no_page(make_server):
    s = make_server({"server": {"web": False}})
    for p in ["/", "/incidents/1", "/signin"]:
        st, h, body = fetch(s, p)
        assert st == 404, p
    st, body = s.get("/api/version")
    assert st == 200
    st, _, body = s.request("GET", "/assets/x.js")
    assert_error(st, body, 404, "not_found")


def session_meta(html):
    m = re.search(r'<meta name="intervene-session" content="([^"]*)">', html)
    assert m, "the index has no session element"
    return m.group(1)


def test_the_index_names_a_signed_in_browser_and_nobody_else(make_server):
    """A browser signed in by its cookie gets the index with {actor, role} in the
    session element (HTML-escaped JSON), so the first view needs no GET /api/session;
    without a valid cookie the element is empty. Either way no shared cache keeps it."""
    s = make_server()
    st, h, body = fetch(s, "/")
    assert st == 200 and session_meta(body.decode()) == ""
    assert h["cache-control"] == "private, no-cache"
    tok = s.create_token("ops.bob@x-1", "approver")
    st, sh, _ = s.request("POST", "/api/session", {"token": tok}, token=None)
    assert st == 200
    cookie = sh["set-cookie"].split(";")[0]
    st, h, body = fetch(s, "/incidents/9?x=1", headers={"Cookie": cookie, "Accept-Encoding": "gzip"})
    assert st == 200 and "content-encoding" not in h
    assert h["cache-control"] == "private, no-cache"
    raw = session_meta(body.decode())
    assert "<" not in raw and "'" not in raw and '"' not in raw, raw
    assert json.loads(htmllib.unescape(raw)) == {"actor": "ops.bob@x-1", "role": "approver"}
    # the rest of the page is the same index
    st, _, plain = fetch(s, "/")
    assert body.replace(f'content="{raw}"'.encode(), b'content=""') == plain
    # a bad cookie names nobody
    st, h, body = fetch(s, "/", headers={"Cookie": "intervene_session=nope"})
    assert st == 200 and session_meta(body.decode()) == ""
    s.request("DELETE", "/api/session", token=None, headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{s.port}"})
    st, h, body = fetch(s, "/", headers={"Cookie": cookie})
    assert session_meta(body.decode()) == "", "a signed-out session still named"


def test_the_index_names_the_local_admin_without_auth(make_server):
    s = make_server({"auth": {"mode": "none"}}, bootstrap_token=False)
    st, h, body = fetch(s, "/")
    assert json.loads(htmllib.unescape(session_meta(body.decode()))) == {"actor": "local", "role": "admin"}
