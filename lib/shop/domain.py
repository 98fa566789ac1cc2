"""The shop's vocabulary, shared by the generator and the transforms.

>>> ORDER_STATUSES
('placed', 'shipped', 'delivered', 'cancelled', 'returned')
>>> COUNTRY_CALLING_CODES["NL"]
'31'
"""

from __future__ import annotations

ORDER_STATUSES: tuple[str, ...] = ("placed", "shipped", "delivered", "cancelled", "returned")
NON_REVENUE_STATUSES: tuple[str, ...] = ("cancelled",)
"""Orders in these statuses earn nothing; returned orders still count (gross booked revenue)."""

EVENT_TYPES: tuple[str, ...] = ("page_view", "add_to_cart", "checkout", "purchase")
CURRENCY = "EUR"
CURRENCIES: tuple[str, ...] = (CURRENCY,)
"""The shop invoices in euro only; silver rejects other currencies."""

COUNTRY_CALLING_CODES: dict[str, str] = {"NL": "31", "DE": "49", "FR": "33", "BE": "32", "GB": "44", "US": "1"}
"""ISO country -> telephone calling code, used to write and to normalize phone numbers."""
