"""The AWS Price List Query API's GetProducts for the AWS emulator: EC2 on-demand prices from the scenario.

Parts: serve (the emulator's route for X-Amz-Target AWSPriceListService.*: IAM, injected faults,
the call log), get_products (the answer to one request), product_entry (one PriceList entry, as the
API writes it: a JSON string), PricingError.

From the API reference ("GetProducts", AWS Price List Service, JSON protocol 1.1, target
AWSPriceListService.GetProducts): ServiceCode names the service (AmazonEC2); Filters are
{Type, Field, Value} and a product is returned only when every filter matches one of its
attributes (TERM_MATCH, and EQUALS, its newer name); FormatVersion aws_v1; PriceList is a list of
JSON *strings*, each {product: {productFamily, attributes, sku}, serviceCode, terms: {OnDemand:
{<sku>.<offer term>: {priceDimensions: {<rate code>: {unit: "Hrs", pricePerUnit: {USD}}}}}},
version, publicationDate}. The emulator lists each scenario AWS region's catalogue types as plain
Linux, shared-tenancy, used-capacity products at the scenario's on-demand price (sandbox/prices.py).
Authorization: pricing:GetProducts on "*". The harsher readings: a ServiceCode other than AmazonEC2
is NotFoundException, a filter type it does not know is ValidationException.
"""

from __future__ import annotations

import hashlib
import json
import time
from types import SimpleNamespace
from typing import Any

from responder.sandbox.authz_json import Check
from responder.sandbox.aws_scores import type_catalog
from responder.sandbox.prices import price_of

OFFER_TERM, RATE = "JRTCKXETXF", "6YS6EN2CT7"  # on-demand's offer term code and the hourly rate code
MATCHING = ("TERM_MATCH", "EQUALS")


class PricingError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _attributes(region: str, instance_type: str, cpu: int, mib: int) -> dict[str, str]:
    return {"servicecode": "AmazonEC2", "instanceType": instance_type, "regionCode": region,
            "operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used",
            "licenseModel": "No License required", "vcpu": str(cpu), "memory": f"{mib / 1024:g} GiB",
            "usagetype": f"BoxUsage:{instance_type}", "operation": "RunInstances"}


def product_entry(attributes: dict[str, str], price: float) -> str:
    digest = hashlib.sha1(f"{attributes['regionCode']}/{attributes['instanceType']}".encode()).hexdigest()
    sku = digest[:16].upper()
    dimension = {"unit": "Hrs", "beginRange": "0", "endRange": "Inf", "appliesTo": [],
                 "rateCode": f"{sku}.{OFFER_TERM}.{RATE}", "pricePerUnit": {"USD": f"{price:.10f}"},
                 "description": f"${price:g} per On Demand Linux {attributes['instanceType']} Instance Hour"}
    return json.dumps({
        "product": {"productFamily": "Compute Instance", "attributes": attributes, "sku": sku},
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {f"{sku}.{OFFER_TERM}": {
            "priceDimensions": {dimension["rateCode"]: dimension}, "sku": sku, "offerTermCode": OFFER_TERM,
            "effectiveDate": "2026-11-01T00:00:00Z", "termAttributes": {}}}},
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z",
    })


def get_products(emulator, request: dict[str, Any]) -> dict[str, Any]:
    """The GetProducts answer for the request body (a dict); raises PricingError."""
    if not request.get("ServiceCode"):
        raise PricingError("ValidationException", "1 validation error detected: Value null at 'serviceCode' "
                                                  "failed to satisfy constraint: Member must not be null")
    if request["ServiceCode"] != "AmazonEC2":
        raise PricingError("NotFoundException", "The requested resource was not found.")
    wanted: dict[str, str] = {}
    for f in request.get("Filters") or []:
        if f.get("Type", "TERM_MATCH") not in MATCHING:
            raise PricingError("ValidationException", f"Filter type {f.get('Type')!r} is not supported here.")
        wanted[str(f.get("Field", ""))] = str(f.get("Value", ""))
    catalog = type_catalog(SimpleNamespace(emulator=emulator))
    raw, entries = emulator.scenario.raw, []
    for region in emulator.regions:
        names = [wanted["instanceType"]] if "instanceType" in wanted else [t["type"] for t in region.instance_types]
        for name in names:
            if name not in catalog:
                continue
            cpu, mib = catalog[name]
            attributes = _attributes(region.region, name, cpu, mib)
            if all(attributes.get(k) == v for k, v in wanted.items()):
                entries.append(product_entry(attributes, price_of(raw, cpu, mib, name, None, "ondemand")))
    return {"FormatVersion": request.get("FormatVersion", "aws_v1"), "PriceList": entries}


def _answer(start_response, status: int, payload: dict[str, Any]) -> list[bytes]:
    data = json.dumps(payload).encode()
    start_response(f"{status} {'OK' if status < 400 else 'Error'}",
                   [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))])
    return [data]


def serve(emulator, environ: dict[str, Any], body: bytes, checked: bool, start_response) -> list[bytes]:
    """One Price List call: IAM first (the account owner is never refused), then an injected fault,
    then the answer; recorded in the call log as its API name (GetProducts)."""
    action = environ["HTTP_X_AMZ_TARGET"].split(".", 1)[1]
    started, arrived = emulator.clock(), time.time()
    fault, status, payload, request = None, 200, {}, {}
    try:
        request = json.loads(body or b"{}")
        if checked and emulator.policies.aws is not None:
            check = Check(f"pricing:{action}", "*")
            if emulator.policies.aws.decide(check) != "allow":
                raise PricingError("AccessDeniedException", f"User is not authorized to perform: pricing:{action} "
                                                            "because no identity-based policy allows it")
        fault = emulator.faults.fault_for(action)
        if fault is not None and fault.ends_before_action:
            emulator._record(action, 0, fault.kind, {}, t=started, wall=arrived, fault=fault.kind)
            fault.before()  # timeout / reset: the connection ends here
        if fault is not None and fault.kind == "error":
            raise PricingError(fault.code, fault.message or "Rate exceeded", fault.status or 400)
        if action != "GetProducts":
            raise PricingError("UnknownOperationException", f"{action} is not served by the sandbox")
        payload = get_products(emulator, request)
    except ValueError:
        status, payload = 400, {"__type": "SerializationException", "Message": "the body is not JSON"}
    except PricingError as err:
        status, payload = err.status, {"__type": err.code, "Message": err.message}
    logged = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in (request if status == 200 else {}).items()}
    emulator._record(action, status, payload.get("__type", "") if status >= 400 else "", logged, t=started,
                     wall=arrived, fault=fault.kind if fault else None)
    if fault is not None:
        fault.after()  # lost: answered, and the answer never leaves
    return _answer(start_response, status, payload)
