#!/usr/bin/env python3
"""Open-model load for the chaos suite: POST /api/orders at a fixed arrival
rate for a fixed time, and record the id of every order that got a 202, so
"lost" is measured from the client's side.

    chaos-load.py URL RATE SECONDS IDS_FILE

Prints one line: `sent N accepted A rejected R errors E`.
"""
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

url, rate, seconds, ids_file = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
lock = threading.Lock()
counts = {"sent": 0, "accepted": 0, "rejected": 0, "errors": 0}
ids = open(ids_file, "a")


def order():
    # A fresh customer per order: credit never runs out, so every saga should end PAID.
    cents = random.randint(100, 10000)
    quantity = random.randint(1, 3)
    price = cents / 100
    subtotal = price * quantity
    return {
        "customerId": f"chaos-{random.getrandbits(48):x}",
        "items": [{"productId": "p-1", "name": "Mug", "price": price, "quantity": quantity, "subtotal": subtotal}],
        "totalAmount": subtotal,
    }


def post():
    body = json.dumps(order()).encode()
    request = urllib.request.Request(f"{url}/api/orders", data=body, headers={"content-type": "application/json"})
    outcome = "errors"
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status == 202:
                order_id = json.load(response)["orderId"]
                with lock:
                    ids.write(order_id + "\n")
                    ids.flush()
                outcome = "accepted"
    except urllib.error.HTTPError:
        outcome = "rejected"  # 4xx/5xx: not accepted, so not the saga's to keep
    except Exception:
        outcome = "errors"  # connection refused while a service restarts
    with lock:
        counts["sent"] += 1
        counts[outcome] += 1


start = time.monotonic()
with ThreadPoolExecutor(max_workers=32) as pool:
    n = 0
    while True:
        due = start + n / rate
        if due - start >= seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pool.submit(post)
        n += 1
print(" ".join(f"{k} {v}" for k, v in counts.items()))
