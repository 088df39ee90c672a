"""The built-in instrument data: CME futures and their micros, crypto and FX currency lists, and the paper
commission defaults per asset class (read by ``trading.domain.commissions``).

Pure data read by ``trading.domain.instruments``; a user extends or overrides any of it with an
``[instruments.NAME]`` table in warden.toml (docs/bring-your-own-bot.md, "Instruments").

Failure contract: none; constants only, no I/O.
"""
from __future__ import annotations

# root: (multiplier USD per point, tick, exchange, session calendar, description)
FUTURES: dict[str, tuple[float, float, str, str, str]] = {
    # equity index
    "ES": (50.0, 0.25, "CME", "CME_Equity", "E-mini S&P 500"),
    "MES": (5.0, 0.25, "CME", "CME_Equity", "Micro E-mini S&P 500"),
    "NQ": (20.0, 0.25, "CME", "CME_Equity", "E-mini Nasdaq-100"),
    "MNQ": (2.0, 0.25, "CME", "CME_Equity", "Micro E-mini Nasdaq-100"),
    "YM": (5.0, 1.0, "CBOT", "CME_Equity", "E-mini Dow"),
    "MYM": (0.5, 1.0, "CBOT", "CME_Equity", "Micro E-mini Dow"),
    "RTY": (50.0, 0.1, "CME", "CME_Equity", "E-mini Russell 2000"),
    "M2K": (5.0, 0.1, "CME", "CME_Equity", "Micro E-mini Russell 2000"),
    # energy
    "CL": (1000.0, 0.01, "NYMEX", "CME_Energy", "WTI crude oil"),
    "MCL": (100.0, 0.01, "NYMEX", "CME_Energy", "Micro WTI crude oil"),
    "QM": (500.0, 0.025, "NYMEX", "CME_Energy", "E-mini crude oil"),
    "NG": (10000.0, 0.001, "NYMEX", "CME_Energy", "Henry Hub natural gas"),
    "RB": (42000.0, 0.0001, "NYMEX", "CME_Energy", "RBOB gasoline"),
    "HO": (42000.0, 0.0001, "NYMEX", "CME_Energy", "NY Harbor ULSD"),
    # metals
    "GC": (100.0, 0.1, "COMEX", "CME_Metals", "Gold"),
    "MGC": (10.0, 0.1, "COMEX", "CME_Metals", "Micro gold"),
    "SI": (5000.0, 0.005, "COMEX", "CME_Metals", "Silver"),
    "SIL": (1000.0, 0.005, "COMEX", "CME_Metals", "Micro silver (1,000 oz)"),
    "HG": (25000.0, 0.0005, "COMEX", "CME_Metals", "Copper"),
    "MHG": (2500.0, 0.0005, "COMEX", "CME_Metals", "Micro copper"),
    "PL": (50.0, 0.1, "NYMEX", "CME_Metals", "Platinum"),
    # rates
    "ZN": (1000.0, 0.015625, "CBOT", "CME_Rate", "10-year T-note"),
    "ZB": (1000.0, 0.03125, "CBOT", "CME_Rate", "30-year T-bond"),
    "ZF": (1000.0, 0.0078125, "CBOT", "CME_Rate", "5-year T-note"),
    # crypto futures
    "BTC": (5.0, 5.0, "CME", "CME_Crypto", "CME Bitcoin futures"),
    "MBT": (0.1, 5.0, "CME", "CME_Crypto", "CME Micro Bitcoin"),
    "ETH": (50.0, 0.5, "CME", "CME_Crypto", "CME Ether futures"),
    "MET": (0.1, 0.5, "CME", "CME_Crypto", "CME Micro Ether"),
}

# CME futures roots that are also crypto asset names: a bare "BTC"/"ETH" is the asset (a view, e.g. the
# underlying of a Polymarket up/down share), not the CME contract; only BTCZ5 / MBTZ5 style symbols or an
# [instruments.BTC] table select the future.
FUTURES_ONLY_WITH_MONTH = frozenset({"BTC", "ETH"})

# quote currencies recognised at the end of a concatenated crypto pair (BTCUSDT, ETHBTC), longest first
CRYPTO_QUOTES: tuple[str, ...] = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "DAI", "USD", "EUR", "GBP",
                                  "TRY", "BRL", "JPY", "AUD", "BTC", "ETH", "BNB")
# quote currencies priced in crypto units: prices need 8 decimals (0.0000123 BTC must never round to 0)
CRYPTO_UNIT_QUOTES = frozenset({"BTC", "ETH", "BNB"})
# a currency code, never free text: USD, USDC, BTC, JPY, 1000SHIB (outcome files, [instruments.NAME], [fx])
CURRENCY_PATTERN = r"^[A-Z0-9]{2,12}$"
# stablecoins count as USD for the account currency
USD_STABLES = frozenset({"USD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "DAI", "FDUSD"})

# well-known crypto assets: a bare name is refused as ambiguous (never read as a stock ticker)
CRYPTO_BASES = frozenset({
    "BTC", "XBT", "ETH", "SOL", "XRP", "DOGE", "ADA", "BNB", "LTC", "DOT", "AVAX", "LINK", "MATIC", "POL",
    "TRX", "SHIB", "BCH", "XLM", "ATOM", "UNI", "ETC", "FIL", "APT", "ARB", "OP", "NEAR", "SUI", "PEPE",
    "TON", "HBAR", "ALGO", "AAVE", "MKR", "XMR", "ZEC", "EOS", "XTZ", "SAND", "MANA", "INJ",
})
# high-priced bases whose USD-quoted tick is a cent; every other pair gets 1e-8
CENT_TICK_BASES = frozenset({"BTC", "XBT", "ETH", "BCH", "MKR", "BNB", "YFI"})

FX_CURRENCIES = frozenset({"USD", "EUR", "GBP", "JPY", "CHF", "AUD", "CAD", "NZD", "SEK", "NOK", "DKK", "MXN",
                           "ZAR", "SGD", "HKD", "CNH", "PLN", "HUF", "CZK", "TRY"})

# Paper commissions by asset class: (per unit, bps of notional, minimum per order, max % of notional).
# per unit None = the broker's ``commission_per_contract`` ([broker], default FUTURES_PER_CONTRACT).
# stock: IBKR Pro Fixed for US stocks (0.005 USD/share, min 1.00, max 1 % of trade value);
# crypto spot: 10 bps (a 0.10 % spot taker fee); perpetual: 5 bps (a 0.05 % perpetual taker fee);
# fx: IBKR Fixed spot FX (0.2 bps of trade value, min 2.00); prediction: 0 (paper; the Polymarket adapter
# reports each real fill's fee from the market's fee_rate_bps).
FUTURES_PER_CONTRACT = 2.25
COMMISSIONS: dict[str, tuple[float | None, float, float, float | None]] = {
    "future": (None, 0.0, 0.0, None),
    "other": (None, 0.0, 0.0, None),
    "stock": (0.005, 0.0, 1.0, 1.0),
    "crypto": (0.0, 10.0, 0.0, None),
    "perpetual": (0.0, 5.0, 0.0, None),
    "fx": (0.0, 0.2, 2.0, None),
    "prediction": (0.0, 0.0, 0.0, None),
}
