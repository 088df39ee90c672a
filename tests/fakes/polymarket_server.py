"""A fake Polymarket on 127.0.0.1: CLOB under /clob, data API under /data, gamma under /gamma.

Written from the documented response shapes (not copied payloads), including the awkward parts:
gamma's JSON-encoded list fields, 70+ digit token ids as strings, books sent bids ascending and asks
descending (best level last), ``/price?side=BUY`` answering the best *bid*, prices as strings,
cursor pagination ending at "LTE=", the data API hiding positions under ``sizeThreshold`` (default 1).

It checks what a real venue checks, independently of py-clob-client-v2's code: the L1 EIP-712
ClobAuth signature (recovered with eth_account), the L2 HMAC of every authenticated request, and
the EIP-712 signature of each posted order against its signer. Switches inject failures: HTTP
errors, non-JSON 200s and handlers that sleep past the client's timeout.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from eth_account import Account
from eth_account.messages import encode_typed_data

CHAIN_ID = 137
EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"      # Polymarket CTF Exchange V2 on Polygon
CLOB_AUTH_MSG = "This message attests that I control the given wallet"
END_CURSOR = "LTE="


class Reply(Exception):
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body


def _cursor(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor or cursor == "MA==":
        return 0
    return int(base64.b64decode(cursor).decode())


class FakePolymarket:
    """Venue state plus the HTTP server. ``url`` is the base; hosts are url+/clob, /data, /gamma."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.gamma: dict[str, dict[str, Any]] = {}            # slug -> gamma market object (as served)
        self.clob_markets: dict[str, dict[str, Any]] = {}     # condition id -> CLOB market object
        self.token_market: dict[str, str] = {}                # token id -> condition id
        self.books: dict[str, dict[str, list[list[float]]]] = {}   # token -> {"bids": [[p, s]], "asks": ...}
        self.accounts: dict[str, dict[str, Any]] = {}         # address (lower) -> creds + balance
        self.holdings: dict[str, dict[str, dict[str, float]]] = {}  # wallet -> token -> {size, avg}
        self.orders: dict[str, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.fail: dict[str, tuple[int, Any]] = {}            # path -> (status, body), every time
        self.fail_once: dict[str, tuple[int, Any]] = {}
        self.delay: dict[str, float] = {}                     # path -> seconds slept before answering
        self.non_json: set[str] = set()                       # path -> 200 with an HTML body
        self.page_size = 100
        self.min_order_size = 5.0
        self.tick = 0.01
        self._server: ThreadingHTTPServer | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> FakePolymarket:
        fake = self

        class Handler(_Handler):
            venue = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def reset(self) -> None:
        with self.lock:
            for d in (self.gamma, self.clob_markets, self.token_market, self.books, self.accounts, self.holdings,
                      self.orders, self.fail, self.fail_once, self.delay):
                d.clear()
            self.trades.clear()
            self.requests.clear()
            self.non_json.clear()
            self.page_size = 100

    # ---------------------------------------------------------------- set-up helpers
    def add_updown_market(self, slug: str, condition_id: str, up_token: str, down_token: str, *,
                          up_price: float = 0.5, closed: bool = False, final: tuple[str, str] | None = None,
                          winner: str | None = None, uma_status: str | None = None,
                          start: int | None = None, window_s: int = 900) -> None:
        """``start`` (unix seconds) dates the window: eventStartTime = start, endDate = start + window_s."""
        prices = final or (f"{up_price:g}", f"{1 - up_price:g}")
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        self.gamma[slug] = {
            "id": str(1_000_000 + len(self.gamma)), "question": f"Up or Down {slug}", "conditionId": condition_id,
            "slug": slug, "outcomes": json.dumps(["Up", "Down"]), "outcomePrices": json.dumps(list(prices)),
            "clobTokenIds": json.dumps([up_token, down_token]), "active": not closed, "closed": closed,
            "endDate": "2025-12-31T17:15:00Z" if start is None else iso(start + window_s),
            "eventStartTime": "2025-12-31T17:00:00Z" if start is None else iso(start),
            "orderPriceMinTickSize": self.tick, "orderMinSize": self.min_order_size, "negRisk": False,
            "umaResolutionStatuses": "[]", **({"umaResolutionStatus": uma_status} if uma_status else {}),
        }
        self.clob_markets[condition_id] = {
            "condition_id": condition_id, "market_slug": slug, "closed": closed, "active": not closed,
            "accepting_orders": not closed, "minimum_order_size": self.min_order_size,
            "minimum_tick_size": self.tick, "neg_risk": False,
            "tokens": [{"token_id": up_token, "outcome": "Up", "price": float(prices[0]), "winner": winner == "Up"},
                       {"token_id": down_token, "outcome": "Down", "price": float(prices[1]),
                        "winner": winner == "Down"}],
        }
        self.token_market[up_token] = condition_id
        self.token_market[down_token] = condition_id
        self.books.setdefault(up_token, {"bids": [], "asks": []})
        self.books.setdefault(down_token, {"bids": [], "asks": []})

    def set_book(self, token: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> None:
        self.books[token] = {"bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}

    def add_account(self, address: str, *, api_key: str | None = None, secret: str | None = None,
                    passphrase: str | None = None, usdc: float = 1000.0) -> dict[str, Any]:
        acct = {"address": address, "api_key": api_key, "secret": secret, "passphrase": passphrase, "usdc": usdc}
        self.accounts[address.lower()] = acct
        return acct

    def set_holding(self, wallet: str, token: str, size: float, avg: float) -> None:
        self.holdings.setdefault(wallet.lower(), {})[token] = {"size": size, "avg": avg}

    # ---------------------------------------------------------------- venue actions
    def fill_resting(self, order_id: str, size: float | None = None) -> dict[str, Any]:
        """Someone takes our resting order: a trade in which we are the maker."""
        with self.lock:
            o = self.orders[order_id]
            acct = self._account_by_key(o["owner"])
            size = float(o["original_size"]) - float(o["size_matched"]) if size is None else size
            price = float(o["price"])
            self._settle(acct, o["asset_id"], o["side"], size, price)
            o["size_matched"] = f"{float(o['size_matched']) + size:.4f}"
            if float(o["size_matched"]) >= float(o["original_size"]) - 1e-9:
                o["status"] = "MATCHED"
            trade = self._trade(o["asset_id"], "SELL" if o["side"] == "BUY" else "BUY", size, price,
                                taker_order="0x" + secrets.token_hex(32), owner=str(uuid.uuid4()),
                                maker_address="0x" + secrets.token_hex(20), trader_side="MAKER")
            trade["maker_orders"] = [{
                "order_id": order_id, "owner": o["owner"], "maker_address": acct["address"],
                "matched_amount": f"{size:.4f}", "price": f"{price:.4f}", "fee_rate_bps": "0",
                "asset_id": o["asset_id"], "outcome": o["outcome"], "side": o["side"]}]
            self.trades.append(trade)
            return trade

    # ---------------------------------------------------------------- internals
    def _account_by_key(self, api_key: str) -> dict[str, Any]:
        return next(a for a in self.accounts.values() if a["api_key"] == api_key)

    def _outcome(self, token: str) -> str:
        m = self.clob_markets[self.token_market[token]]
        return next(t["outcome"] for t in m["tokens"] if t["token_id"] == token)

    def _trade(self, token: str, side: str, size: float, price: float, *, taker_order: str, owner: str,
               maker_address: str, trader_side: str) -> dict[str, Any]:
        now = str(int(time.time()))
        return {
            "id": str(uuid.uuid4()), "taker_order_id": taker_order, "market": self.token_market[token],
            "asset_id": token, "side": side, "size": f"{size:.4f}", "fee_rate_bps": "0", "price": f"{price:.4f}",
            "status": "CONFIRMED", "match_time": now, "last_update": now, "outcome": self._outcome(token),
            "bucket_index": 0, "owner": owner, "maker_address": maker_address,
            "transaction_hash": "0x" + secrets.token_hex(32), "trader_side": trader_side, "maker_orders": [],
        }

    def _settle(self, acct: dict[str, Any], token: str, side: str, size: float, price: float) -> None:
        h = self.holdings.setdefault(acct["address"].lower(), {}).setdefault(token, {"size": 0.0, "avg": 0.0})
        if side == "BUY":
            h["avg"] = (h["avg"] * h["size"] + price * size) / (h["size"] + size)
            h["size"] += size
            acct["usdc"] -= size * price
        else:
            h["size"] -= size
            acct["usdc"] += size * price

    # ---------------------------------------------------------------- auth checks (independent of the client)
    def check_l1(self, headers: dict[str, str]) -> str:
        addr, sig = headers.get("poly_address", ""), headers.get("poly_signature", "")
        typed = {
            "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                       {"name": "chainId", "type": "uint256"}],
                      "ClobAuth": [{"name": "address", "type": "address"}, {"name": "timestamp", "type": "string"},
                                   {"name": "nonce", "type": "uint256"}, {"name": "message", "type": "string"}]},
            "primaryType": "ClobAuth", "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": CHAIN_ID},
            "message": {"address": addr, "timestamp": headers.get("poly_timestamp", ""),
                        "nonce": int(headers.get("poly_nonce", "0")), "message": CLOB_AUTH_MSG},
        }
        try:
            ok = Account.recover_message(encode_typed_data(full_message=typed), signature=sig) == addr
        except Exception:
            ok = False
        if not ok:
            raise Reply(401, {"error": "Invalid L1 Request headers"})
        return addr

    def check_l2(self, headers: dict[str, str], method: str, path: str, body: str) -> dict[str, Any]:
        key = headers.get("poly_api_key", "")
        acct = next((a for a in self.accounts.values() if a["api_key"] and a["api_key"] == key), None)
        if acct is None or headers.get("poly_passphrase") != acct["passphrase"]:
            raise Reply(401, {"error": "Unauthorized/Invalid api key"})
        msg = headers.get("poly_timestamp", "") + method + path + (body or "")
        want = base64.urlsafe_b64encode(hmac.new(base64.urlsafe_b64decode(acct["secret"]), msg.encode(),
                                                 hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(want, headers.get("poly_signature", "")):
            raise Reply(401, {"error": "Unauthorized/Invalid api key"})
        return acct

    def check_order_signature(self, o: dict[str, Any]) -> None:
        typed = {
            "primaryType": "Order",
            "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                       {"name": "chainId", "type": "uint256"},
                                       {"name": "verifyingContract", "type": "address"}],
                      "Order": [{"name": n, "type": t} for n, t in (
                          ("salt", "uint256"), ("maker", "address"), ("signer", "address"), ("tokenId", "uint256"),
                          ("makerAmount", "uint256"), ("takerAmount", "uint256"), ("side", "uint8"),
                          ("signatureType", "uint8"), ("timestamp", "uint256"), ("metadata", "bytes32"),
                          ("builder", "bytes32"))]},
            "domain": {"name": "Polymarket CTF Exchange", "version": "2", "chainId": CHAIN_ID,
                       "verifyingContract": EXCHANGE_V2},
            "message": {"salt": int(o["salt"]), "maker": o["maker"], "signer": o["signer"],
                        "tokenId": int(o["tokenId"]), "makerAmount": int(o["makerAmount"]),
                        "takerAmount": int(o["takerAmount"]), "side": 0 if o["side"] == "BUY" else 1,
                        "signatureType": int(o["signatureType"]), "timestamp": int(o["timestamp"]),
                        "metadata": bytes.fromhex(o["metadata"][2:].zfill(64)),
                        "builder": bytes.fromhex(o["builder"][2:].zfill(64))},
        }
        try:
            signer = Account.recover_message(encode_typed_data(full_message=typed), signature=o["signature"])
        except Exception:
            signer = None
        if signer != o["signer"]:
            raise Reply(400, {"error": "invalid signature"})

    # ---------------------------------------------------------------- routes
    def route(self, method: str, path: str, q: dict[str, str], headers: dict[str, str], body: str) -> Any:
        with self.lock:
            if path.startswith("/clob/"):
                return self._clob(method, path[len("/clob"):], q, headers, body)
            if path.startswith("/data/"):
                return self._data(path[len("/data"):], q)
            if path.startswith("/gamma/"):
                if path == "/gamma/markets":
                    m = self.gamma.get(q.get("slug", ""))
                    return [m] if m else []
            raise Reply(404, {"error": "not found"})

    def _data(self, path: str, q: dict[str, str]) -> Any:
        wallet = q.get("user", "").lower()
        if not re.fullmatch(r"0x[0-9a-f]{40}", wallet):
            raise Reply(400, {"error": "invalid user address"})
        rows = []
        for token, h in sorted(self.holdings.get(wallet, {}).items()):
            cid = self.token_market[token]
            m = self.clob_markets[cid]
            cur = next(t["price"] for t in m["tokens"] if t["token_id"] == token)
            rows.append({"proxyWallet": wallet, "asset": token, "conditionId": cid, "size": h["size"],
                         "avgPrice": h["avg"], "initialValue": h["size"] * h["avg"], "currentValue": h["size"] * cur,
                         "cashPnl": h["size"] * (cur - h["avg"]), "curPrice": cur, "redeemable": m["closed"],
                         "title": m["market_slug"], "slug": m["market_slug"], "outcome": self._outcome(token),
                         "outcomeIndex": 0 if self._outcome(token) == "Up" else 1, "endDate": "2025-12-31"})
        if path == "/positions":
            threshold = float(q.get("sizeThreshold", 1.0))    # the API's default hides < 1 share
            rows = [r for r in rows if r["size"] >= threshold and r["size"] > 0]
            off, lim = int(q.get("offset", 0)), int(q.get("limit", 100))
            return rows[off:off + lim]
        if path == "/value":
            return [{"user": wallet, "value": round(sum(r["currentValue"] for r in rows), 6)}]
        raise Reply(404, {"error": "not found"})

    def _clob(self, method: str, path: str, q: dict[str, str], headers: dict[str, str], body: str) -> Any:
        if path == "/ok":
            return "OK"
        if path == "/time":
            return int(time.time())
        if path == "/version":
            return {"version": 2}
        if path in ("/tick-size", "/neg-risk", "/book", "/price", "/midpoint"):
            token = q.get("token_id", "")
            if token not in self.token_market:
                raise Reply(404, {"error": "No orderbook exists for the requested token id"})
            return self._token_route(path, token, q)
        if m := re.fullmatch(r"/markets/(0x[0-9a-f]+)", path):
            if m.group(1) not in self.clob_markets:
                raise Reply(404, {"error": "market not found"})
            return self.clob_markets[m.group(1)]
        if m := re.fullmatch(r"/markets-by-token/(\d+)", path):
            return {"condition_id": self.token_market[m.group(1)]}
        if m := re.fullmatch(r"/clob-markets/(0x[0-9a-f]+)", path):
            mk = self.clob_markets[m.group(1)]
            return {"t": [{"t": t["token_id"], "o": t["outcome"]} for t in mk["tokens"]], "mts": self.tick,
                    "nr": False, "fd": {"r": 0, "e": 0}}
        if path in ("/auth/api-key", "/auth/derive-api-key"):
            return self._auth(method, path, headers)
        acct = self.check_l2(headers, method, path, body)
        if path == "/order" and method == "POST":
            return self._post_order(acct, json.loads(body))
        if path == "/order" and method == "DELETE":
            oid = json.loads(body)["orderID"]
            o = self.orders.get(oid)
            if o is None or o["owner"] != acct["api_key"] or o["status"] != "LIVE":
                return {"canceled": [], "not_canceled": {oid: "order can't be found - already canceled or matched"}}
            o["status"] = "CANCELED"
            return {"canceled": [oid], "not_canceled": {}}
        if path == "/data/orders":
            mine = [o for o in self.orders.values() if o["owner"] == acct["api_key"] and o["status"] == "LIVE"]
            return self._page(mine, q)
        if m := re.fullmatch(r"/data/order/(0x[0-9a-f]+)", path):
            o = self.orders.get(m.group(1))
            if o is None or o["owner"] != acct["api_key"]:
                raise Reply(404, {"error": "order not found"})
            return o
        if path == "/data/trades":
            key = acct["api_key"]
            mine = [t for t in self.trades
                    if (t["trader_side"] == "TAKER" and t["owner"] == key)
                    or any(mo["owner"] == key for mo in t["maker_orders"])]
            if q.get("after"):
                mine = [t for t in mine if int(t["match_time"]) >= int(q["after"])]
            if q.get("id"):
                mine = [t for t in mine if t["id"] == q["id"]]
            return self._page(mine, q)
        if path == "/balance-allowance":
            return {"balance": str(round(acct["usdc"] * 1_000_000)), "allowances": {EXCHANGE_V2: "1" * 20}}
        raise Reply(404, {"error": f"no route {method} {path}"})

    def _token_route(self, path: str, token: str, q: dict[str, str]) -> Any:
        book = self.books[token]
        bids = sorted(book["bids"])                         # ascending: best bid last
        asks = sorted(book["asks"], reverse=True)           # descending: best ask last
        if path == "/tick-size":
            return {"minimum_tick_size": self.tick}
        if path == "/neg-risk":
            return {"neg_risk": False}
        if path == "/book":
            return {"market": self.token_market[token], "asset_id": token, "timestamp": str(int(time.time() * 1000)),
                    "hash": hashlib.sha1(json.dumps(book).encode()).hexdigest(),
                    "bids": [{"price": f"{p:g}", "size": f"{s:g}"} for p, s in bids],
                    "asks": [{"price": f"{p:g}", "size": f"{s:g}"} for p, s in asks],
                    "min_order_size": f"{self.min_order_size:g}", "tick_size": f"{self.tick:g}", "neg_risk": False}
        best_bid = bids[-1][0] if bids else None
        best_ask = asks[-1][0] if asks else None
        if path == "/price":
            # the live CLOB answers side=BUY with the best bid and side=SELL with the best ask
            p = best_bid if q.get("side", "").upper() == "BUY" else best_ask
            if p is None:
                raise Reply(404, {"error": "No orderbook exists for the requested token id"})
            return {"price": f"{p:g}"}
        if best_bid is None or best_ask is None:
            raise Reply(404, {"error": "No orderbook exists for the requested token id"})
        return {"mid": f"{(best_bid + best_ask) / 2:g}"}

    def _auth(self, method: str, path: str, headers: dict[str, str]) -> Any:
        addr = self.check_l1(headers)
        acct = self.accounts.get(addr.lower()) or self.add_account(addr)
        if path == "/auth/api-key":
            if acct["api_key"]:
                raise Reply(400, {"error": "Could not create api key"})
            acct.update(api_key=str(uuid.uuid4()), secret=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                        passphrase=secrets.token_hex(32))
        elif not acct["api_key"]:
            raise Reply(400, {"error": "Could not derive api key!"})
        return {"apiKey": acct["api_key"], "secret": acct["secret"], "passphrase": acct["passphrase"]}

    def _page(self, rows: list[dict[str, Any]], q: dict[str, str]) -> dict[str, Any]:
        off = _offset(q.get("next_cursor"))
        page = rows[off:off + self.page_size]
        nxt = off + len(page)
        return {"data": page, "next_cursor": _cursor(nxt) if nxt < len(rows) else END_CURSOR,
                "limit": self.page_size, "count": len(page)}

    def _post_order(self, acct: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        o = payload["order"]
        if payload.get("owner") != acct["api_key"]:
            raise Reply(400, {"error": "the order owner has to be the owner of the API KEY"})
        if o["signer"].lower() != acct["address"].lower():
            raise Reply(400, {"error": "invalid signer"})
        self.check_order_signature(o)
        token = o["tokenId"]
        if not isinstance(token, str) or token not in self.token_market:
            raise Reply(400, {"error": f"invalid token id {token!r}"})
        if self.clob_markets[self.token_market[token]]["closed"]:
            raise Reply(400, {"error": "market is closed"})
        side, maker, taker = o["side"], int(o["makerAmount"]), int(o["takerAmount"])
        size = (taker if side == "BUY" else maker) / 1e6
        price = round((maker / taker) if side == "BUY" else (taker / maker), 6)
        if size < self.min_order_size:
            raise Reply(400, {"error": f"Size ({size:g}) lower than the minimum: {self.min_order_size:g}"})
        held = self.holdings.get(acct["address"].lower(), {}).get(token, {"size": 0.0})["size"]
        if side == "BUY" and acct["usdc"] + 1e-9 < size * price:
            raise Reply(400, {"error": "not enough balance / allowance"})
        if side == "SELL" and held + 1e-9 < size:
            raise Reply(400, {"error": "not enough balance / allowance"})
        order_type = payload.get("orderType", "GTC")
        book = self.books[token]
        levels = sorted(book["asks"]) if side == "BUY" else sorted(book["bids"], reverse=True)
        crosses = (lambda p: p <= price + 1e-9) if side == "BUY" else (lambda p: p >= price - 1e-9)
        fillable = sum(s for p, s in levels if crosses(p))
        if order_type == "FOK" and fillable + 1e-9 < size:
            raise Reply(400, {"error": "order couldn't be fully filled. FOK orders are fully filled or killed."})
        oid = "0x" + hashlib.sha256(json.dumps(o, sort_keys=True).encode()).hexdigest()
        left, filled, notional, trade_ids, hashes = size, 0.0, 0.0, [], []
        for lvl in levels:
            if left <= 1e-9 or not crosses(lvl[0]):
                break
            q = min(left, lvl[1])
            lvl[1] -= q
            left -= q
            filled += q
            notional += q * lvl[0]
            self._settle(acct, token, side, q, lvl[0])
            t = self._trade(token, side, q, lvl[0], taker_order=oid, owner=acct["api_key"],
                            maker_address=acct["address"], trader_side="TAKER")
            t["maker_orders"] = [{"order_id": "0x" + secrets.token_hex(32), "owner": str(uuid.uuid4()),
                                  "maker_address": "0x" + secrets.token_hex(20), "matched_amount": f"{q:.4f}",
                                  "price": f"{lvl[0]:.4f}", "fee_rate_bps": "0", "asset_id": token,
                                  "outcome": self._outcome(token), "side": "SELL" if side == "BUY" else "BUY"}]
            self.trades.append(t)
            trade_ids.append(t["id"])
            hashes.append(t["transaction_hash"])
        key = "asks" if side == "BUY" else "bids"
        book[key] = [lv for lv in book[key] if lv[1] > 1e-9]
        rests = left > 1e-9 and order_type in ("GTC", "GTD")
        status = "LIVE" if rests else ("MATCHED" if filled > 0 and left <= 1e-9 else "CANCELED")
        self.orders[oid] = {
            "id": oid, "status": status, "owner": acct["api_key"], "maker_address": acct["address"],
            "market": self.token_market[token], "asset_id": token, "side": side,
            "original_size": f"{size:.4f}", "size_matched": f"{filled:.4f}", "price": f"{price:g}",
            "outcome": self._outcome(token), "expiration": "0", "order_type": order_type,
            "associate_trades": trade_ids, "created_at": int(time.time()),
        }
        making, taking = (notional, filled) if side == "BUY" else (filled, notional)
        return {"success": True, "errorMsg": "", "orderID": oid,
                "status": "matched" if filled > 0 else ("live" if rests else "unmatched"),
                "makingAmount": f"{making:g}", "takingAmount": f"{taking:g}",
                "transactionsHashes": hashes, "tradeIDs": trade_ids}


class _Handler(BaseHTTPRequestHandler):
    venue: FakePolymarket
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:   # keep test output quiet
        pass

    def _handle(self, method: str) -> None:
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        v = self.venue
        v.requests.append({"method": method, "path": u.path, "query": q, "raw_query": u.query, "body": body,
                           "headers": headers})
        delay = v.delay.get(u.path)
        if delay:
            time.sleep(delay)
        try:
            if u.path in v.fail_once:
                raise Reply(*v.fail_once.pop(u.path))
            if u.path in v.fail:
                raise Reply(*v.fail[u.path])
            if u.path in v.non_json:
                self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                return
            status, result = 200, v.route(method, u.path, q, headers, body)
        except Reply as r:
            status, result = r.status, r.body
        data = result if isinstance(result, bytes) else json.dumps(result).encode()
        self._send(status, data, "application/json")

    def _send(self, status: int, data: bytes, ctype: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the client gave up (timeout test)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")
