"""`aicity doctor`: one request per account to say which part of collecting works.

It sends what a crawl sends (cookie, Cipher-Text, the same headers) for one keyword, one week,
nationally, then fetches that answer's ptbk key once and decodes it. Each finding names the
part that failed and what to do: network (the server cannot be reached), cookie (Baidu says
not logged in), account (blocked for now), token (Cipher-Text refused: its constants changed)
or site (the answer no longer has the documented shape).
"""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlparse

from aicity.crawler import protocol as proto
from aicity.crawler import settings as crawl_settings
from aicity.crawler.cipher import CipherConfig

PROBE_KEYWORD = "人工智能"


@dataclass
class Finding:
    part: str            # network, cookie, account, token, site, ok
    ok: bool
    message: str
    account: int | None = None


def _get(url: str, headers: dict, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read() or b""


def _headers(cookie: str | None = None, cipher: str | None = None) -> dict:
    headers = {"User-Agent": crawl_settings.USER_AGENT, **crawl_settings.DEFAULT_REQUEST_HEADERS}
    if cookie:
        headers["Cookie"] = cookie
    if cipher:
        headers["Cipher-Text"] = cipher
    return headers


def check_account(base_url: str, cookie: str, index: int, cipher: CipherConfig, latest,
                  timeout: float = 15.0, decode: bool = True) -> list[Finding]:
    host = urlparse(base_url).hostname or base_url
    start = latest - timedelta(days=6)
    params = {"area": 0, "word": proto.word_param([PROBE_KEYWORD]),
              "startDate": start.isoformat(), "endDate": latest.isoformat()}
    token = proto.cipher_text(keyword=PROBE_KEYWORD, user_agent=crawl_settings.USER_AGENT,
                              aes_key=cipher.key, t0=cipher.t0, version=cipher.version)
    label = f"account #{index}"
    try:
        status, body = _get(f"{base_url}/api/SearchApi/index?{urlencode(params)}",
                            _headers(cookie, token), timeout)
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        return [Finding("network", False, f"cannot reach {host} ({reason}); check the network, "
                                          f"a proxy or --base-url", index)]
    if status != 200:
        return [Finding("site", False, f"{host} answered HTTP {status} for SearchApi/index; the "
                                       f"site may have changed (see the protocol notes)", index)]
    try:
        payload = json.loads(body)
        code = payload["status"]
    except (ValueError, KeyError, TypeError):
        return [Finding("site", False, f"{host} answered something that is not Baidu's JSON "
                                       f"envelope; the site may have changed", index)]
    if code == proto.NOT_LOGGED_IN:
        return [Finding("cookie", False, f"{label}: Baidu says not logged in (10000); log in "
                                         f"again and replace this account's BDUSS cookie", index)]
    if code == proto.BLOCKED:
        return [Finding("account", False, f"{label}: blocked by Baidu for now (10001); wait "
                                          f"(hours to days) or use another account", index)]
    if code == proto.ABNORMAL:
        return [Finding("token", False, f"{label}: Baidu refuses our Cipher-Text (10018): its "
                                        f"key, T0 or version has probably changed; put the "
                                        f"current ones in the cipher file ({cipher.origin}) or "
                                        f"AICITY_CIPHER_KEY/_T0/_VERSION", index)]
    if code != proto.OK:
        return [Finding("site", False, f"{label}: unexpected status {code} "
                                       f"({payload.get('message')}); see the protocol notes",
                        index)]
    found = [Finding("cookie", True, f"{label}: logged in, Cipher-Text accepted", index)]
    if not decode:
        return found
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    uniqid = data.get("uniqid")
    entries = data.get("userIndexes") or []
    if not uniqid or not entries:
        return found + [Finding("site", False, "the answer has no uniqid or userIndexes; the "
                                               "site may have changed", index)]
    key = ""
    for path in ("/Interface/ptbk", "/Interface/api/ptbk"):
        try:
            status, body = _get(f"{base_url}{path}?{urlencode({'uniqid': uniqid})}",
                                _headers(cookie), timeout)
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as err:
            return found + [Finding("network", False, f"ptbk request failed ({err})", index)]
        if status == 200:
            try:
                key = json.loads(body).get("data") or ""
            except (ValueError, AttributeError):
                key = ""
            break
    block = entries[0].get("all") if isinstance(entries[0], dict) else None
    try:
        values = proto.parse_values(proto.decode((block or {}).get("data") or "", key))
    except proto.ProtocolError as err:
        return found + [Finding("site", False, f"the numbers do not decode with the ptbk key "
                                               f"({err}); the site may have changed", index)]
    if len(values) not in (0, 7) or not key:
        return found + [Finding("site", False, f"decoded {len(values)} values for 7 days; the "
                                               f"site may have changed", index)]
    return found + [Finding("site", True, f"protocol as expected: {len(values)} daily values "
                                        f"decoded for {PROBE_KEYWORD} {start}..{latest}", index)]


def doctor(base_url: str, cookies: list[str], cipher: CipherConfig, latest,
           timeout: float = 15.0) -> list[Finding]:
    """One request per account (and one ptbk for the first that works)."""
    if not cookies:
        return [Finding("cookie", False, "no Baidu cookies: set AICITY_BAIDU_COOKIES (one "
                                         "cookie per line) or pass --cookies-file FILE")]
    findings: list[Finding] = []
    decoded = False
    for i, cookie in enumerate(cookies, start=1):
        result = check_account(base_url, cookie, i, cipher, latest, timeout,
                               decode=not decoded)
        findings += result
        if any(f.part == "network" for f in result):
            break                     # the same server for every account
        decoded = decoded or all(f.ok for f in result)
    return findings
