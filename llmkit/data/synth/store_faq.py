"""A web shop's help centre: policy documents and customers' questions with known answers (the retail case
study's customer-service section, notebooks/case_studies/retail_recommendation.ipynb).

No public customer-service set ships offline, so this one is written here: 24 short policy documents in 6 intents
(orders, shipping, returns, payment, account, store), and for each document a few ways a customer asks about it.
Half of those ways repeat the document's words ("how long does standard shipping take"); the other half say it
in their own words ("my parcel still hasn't turned up, when will it get here"). :func:`questions` draws a seeded
sample of them, each with a greeting and a bit of context, and its answer: the one document that answers it.

**Best achievable score.** Every question is answered by exactly one document and no two documents answer the
same question, so a perfect retriever has recall@1 = 1.0 and a perfect intent router accuracy 1.0; the
``paraphrase`` flag marks the questions that share (almost) no content word with their document, where word
matching is expected to fail. Deterministic in the seed, independent of ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Doc:
    id: str
    intent: str
    title: str
    text: str
    asks: tuple[str, ...]  # questions in the document's own words
    paraphrases: tuple[str, ...]  # the same questions in other words


DOCS: tuple[Doc, ...] = (
    Doc("track-order", "orders", "Tracking your order",
        "Once your order ships we email a tracking number. Enter it on the Track Order page to see where your "
        "package is. Tracking updates can take 24 hours to appear.",
        ("How do I track my order?", "Where do I enter my tracking number?"),
        ("My parcel still hasn't turned up, can I see where it is?", "Is there a way to follow the delivery?")),
    Doc("cancel-order", "orders", "Cancelling an order",
        "You can cancel an order within 1 hour of placing it from Your Orders. After that the order is packed "
        "and cannot be cancelled, but you can return it when it arrives.",
        ("How do I cancel my order?", "Can I still cancel an order I placed this morning?"),
        ("I bought something by mistake, can I stop it before it goes out?", "I changed my mind right after "
         "paying, can you call off the purchase?")),
    Doc("change-address", "orders", "Changing the delivery address",
        "The delivery address can be changed until the order is packed. Open the order in Your Orders and choose "
        "Change address. Once packed, contact the carrier with your tracking number.",
        ("How do I change the delivery address on my order?", "Can I update the address after ordering?"),
        ("I'm moving next week, can the box go to my new flat instead?", "I typed the wrong street, can you "
         "send it somewhere else?")),
    Doc("missing-item", "orders", "An item is missing from your order",
        "Large orders may arrive in several packages. If an item is still missing after all packages arrived, "
        "report the missing item within 14 days and we will send it again.",
        ("An item is missing from my order, what do I do?", "My order arrived with a missing item."),
        ("The box came but one of the things I paid for wasn't inside.", "I only got two of the three products "
         "I bought.")),
    Doc("shipping-time", "shipping", "Delivery times",
        "Standard shipping takes 3 to 5 business days. Express shipping takes 1 to 2 business days. Orders "
        "placed after 2 pm ship the next business day.",
        ("How long does standard shipping take?", "What are your delivery times for express shipping?"),
        ("If I buy today, when will it get to me?", "How many days until my stuff arrives?")),
    Doc("shipping-cost", "shipping", "Shipping costs",
        "Shipping is free on orders over 50 dollars. Below that, standard shipping costs 4.99 dollars and express "
        "shipping 12.99 dollars.",
        ("How much does shipping cost?", "Is shipping free on orders over 50 dollars?"),
        ("Do I have to pay extra to get it sent to me?", "What's the delivery fee if I only spend 20 bucks?")),
    Doc("international", "shipping", "International shipping",
        "We ship to 30 countries. International delivery takes 7 to 14 business days, and customs duties and "
        "import taxes are paid by the recipient.",
        ("Do you offer international shipping?", "Who pays customs duties on international delivery?"),
        ("Can you send things abroad, to Canada for example?", "Will I get charged at the border for a "
         "parcel from you?")),
    Doc("pickup", "shipping", "Pick up in store",
        "Choose Pick up in store at checkout to collect your order free of charge. We email you when it is ready, "
        "usually within 2 hours, and hold it for 7 days.",
        ("Can I pick up my order in store?", "How long do you hold an order for store pickup?"),
        ("Could I just come and grab it myself instead of waiting for the courier?", "I'd rather collect it "
         "in person, is that possible?")),
    Doc("return-window", "returns", "Return policy",
        "You can return most items within 30 days of delivery if they are unused and in their original "
        "packaging. Sale items can be returned within 14 days.",
        ("What is your return policy?", "How many days do I have to return an item?"),
        ("I don't like the jacket I got, is it too late to send it back?", "Bought shoes three weeks ago and "
         "never wore them, can I give them back?")),
    Doc("return-label", "returns", "Free return label",
        "Start a return from Your Orders to print a free return label. Drop the package at any post office; "
        "returns by courier pickup cost 5 dollars.",
        ("How do I get a return label?", "Is the return label free?"),
        ("Do I pay the postage to send something back to you?", "What do I stick on the box when I post it "
         "back?")),
    Doc("refund-time", "returns", "When you get your refund",
        "Refunds are issued within 5 business days after the returned item reaches our warehouse, to the "
        "original payment method. Banks may take 3 more days to show it.",
        ("When will I get my refund?", "How long does a refund take after a return?"),
        ("I sent the item back two weeks ago and still have no money back.", "When does the cash come back "
         "into my account?")),
    Doc("exchange", "returns", "Exchanging for another size or colour",
        "To exchange an item for another size or colour, start a return and choose Exchange. We ship the new "
        "item as soon as the original is scanned at the post office.",
        ("Can I exchange an item for a different size?", "How do exchanges work for another colour?"),
        ("The trousers are too small, can I swap them for bigger ones?", "I'd like the same shirt but in "
         "blue instead.")),
    Doc("damaged", "returns", "Damaged or faulty items",
        "If an item arrives damaged or faulty, send us a photo within 7 days. We replace it or refund it in full, "
        "including shipping, and you do not need to return it.",
        ("My item arrived damaged, what should I do?", "Do you refund faulty items?"),
        ("The mug was broken when I opened the box.", "The lamp I got doesn't switch on at all.")),
    Doc("warranty", "returns", "Warranty on electronics",
        "Electronics carry a 2-year manufacturer warranty. Keep your receipt; warranty repairs are arranged "
        "through the manufacturer's service centre.",
        ("How long is the warranty on electronics?", "How do I make a warranty claim?"),
        ("My headphones stopped working after a year, will they fix them for free?", "Is my laptop covered "
         "if it breaks down next year?")),
    Doc("payment-methods", "payment", "Ways to pay",
        "We accept Visa, Mastercard, American Express, PayPal, Apple Pay and gift cards. We do not accept cash on "
        "delivery or bank transfers.",
        ("What payment methods do you accept?", "Can I pay with PayPal?"),
        ("Can I settle the bill with my phone?", "Is it ok to use Amex, or only other cards?")),
    Doc("installments", "payment", "Paying in instalments",
        "Orders over 100 dollars can be paid in 4 interest-free instalments with Klarna. Choose Pay later at "
        "checkout; the first instalment is charged when the order ships.",
        ("Can I pay in instalments?", "Do you offer interest-free payments with Klarna?"),
        ("Can I spread the cost of a TV over a few months?", "Is there a buy now, pay later option?")),
    Doc("promo-code", "payment", "Discount codes",
        "Enter a discount code in the Promo code box at checkout. One code per order; codes cannot be applied to "
        "gift cards or to orders already placed.",
        ("Where do I enter a discount code?", "Can I use two promo codes on one order?"),
        ("I got a voucher in a newsletter, how do I get the money off?", "I forgot to put in my coupon before "
         "buying, can you still take it off?")),
    Doc("price-match", "payment", "Price match",
        "If you find the same item cheaper at a major retailer within 14 days of buying it, we refund the "
        "difference. Send us a link to the lower price.",
        ("Do you price match?", "Will you refund the difference if the price drops?"),
        ("Another shop sells the same blender for less, can you match that?", "I saw it for 30 dollars less "
         "elsewhere a week after I bought it.")),
    Doc("reset-password", "account", "Resetting your password",
        "Click Forgot password on the sign-in page and we email a reset link, valid for 1 hour. Check your spam "
        "folder if it does not arrive.",
        ("How do I reset my password?", "I forgot my password."),
        ("I can't log in anymore.", "The site keeps telling me my login details are wrong.")),
    Doc("delete-account", "account", "Deleting your account and data",
        "You can delete your account under Account settings, Privacy. We erase your personal data within 30 "
        "days, except order records we must keep for tax purposes.",
        ("How do I delete my account?", "Will you erase my personal data?"),
        ("I want you to forget everything you know about me.", "How do I close my profile for good?")),
    Doc("loyalty", "account", "Loyalty points",
        "Members earn 1 point per dollar spent; 100 points give a 5-dollar reward. Points expire 12 months after "
        "they are earned.",
        ("How do loyalty points work?", "When do my points expire?"),
        ("Do I get anything back for shopping with you often?", "What are the rewards for regular "
         "customers?")),
    Doc("newsletter", "account", "Emails and the newsletter",
        "To stop marketing emails, click Unsubscribe at the bottom of any newsletter or turn off emails under "
        "Account settings, Notifications. Order emails are always sent.",
        ("How do I unsubscribe from the newsletter?", "How do I stop marketing emails?"),
        ("You keep spamming my inbox with offers, make it stop.", "I get too many adverts from you by mail.")),
    Doc("store-hours", "store", "Store opening hours",
        "Our stores are open Monday to Saturday from 9 am to 8 pm and Sunday from 10 am to 5 pm. Holiday hours "
        "are listed on each store's page.",
        ("What are your store opening hours?", "Are stores open on Sunday?"),
        ("Until what time can I come by on a weekday?", "Can I visit the shop on the weekend?")),
    Doc("gift-card", "store", "Gift cards",
        "Gift cards are sold from 10 to 500 dollars, never expire and can be used online and in stores. Check "
        "the balance on the Gift card page.",
        ("Do gift cards expire?", "How do I check my gift card balance?"),
        ("How much is left on the present voucher my aunt gave me?", "Is the birthday voucher still good "
         "after a year?")),
)  # fmt: skip

INTENTS = tuple(dict.fromkeys(d.intent for d in DOCS))
_GREETINGS = ("", "Hi, ", "Hello, ", "Quick question: ", "Good morning. ", "Hey there, ")
_CONTEXT = ("", "", " I ordered last week.", " It's for a birthday.", " Thanks in advance!",
            " I'm a new customer.", " Please help.")  # fmt: skip


def documents() -> pd.DataFrame:
    """The help centre: one row per document (``doc_id``, ``intent``, ``title``, ``text``)."""
    import pandas as pd

    return pd.DataFrame(
        [{"doc_id": d.id, "intent": d.intent, "title": d.title, "text": d.text} for d in DOCS]
    )


def questions(n: int, seed: int = 0, paraphrase_share: float = 0.5) -> pd.DataFrame:
    """``n`` customers' questions (``question``, ``doc_id``, ``intent``, ``paraphrase``), a seeded draw: each
    picks a document, a way of asking (in other words with probability ``paraphrase_share``), a greeting and a
    bit of context. The same seed gives the same rows."""
    import pandas as pd

    if n < 1:
        raise LlmkitError(f"n: expected at least 1 question, got {n}")
    if not 0 <= paraphrase_share <= 1:
        raise LlmkitError(f"paraphrase_share: expected a number between 0 and 1, got {paraphrase_share!r}")
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        doc = DOCS[i % len(DOCS)] if i < len(DOCS) else rng.choice(DOCS)  # every document at least once
        other = rng.random() < paraphrase_share
        core = rng.choice(doc.paraphrases if other else doc.asks)
        greeting = rng.choice(_GREETINGS)
        lower = greeting.endswith(", ") and not core.startswith(
            ("I ", "I'")
        )  # "Hi, how do I ..." but "Hi, I ..."
        text = greeting + (core[0].lower() + core[1:] if lower else core) + rng.choice(_CONTEXT)
        rows.append({"question": text, "doc_id": doc.id, "intent": doc.intent, "paraphrase": other})
    return pd.DataFrame(rows)
