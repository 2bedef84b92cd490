"""The OCI emulator at the wire: signatures checked as OCI checks them, OCI's JSON and headers, and
`responder sandbox` pointing an OCI provisioner's settings at it."""

from __future__ import annotations

import email.utils
import json
import os
import stat
import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from oci_fixtures import A1, AD1, REGION, SUBNET_ID, TENANCY, UBUNTU_ARM_NEW, OCI_SCENARIO, oci_box  # noqa: F401


def signer(box, key_file: str | None = None, fingerprint: str | None = None):
    from oci.signer import Signer

    c = box.emulator.config
    return Signer(c.tenancy, c.user, fingerprint or box.sandbox.oci.fingerprint, key_file or box.sandbox.oci.key_file)


def url(box, path: str) -> str:
    return f"{box.sandbox.oci.endpoint}/20160918/{path}"


LAUNCH = {"availabilityDomain": AD1, "compartmentId": TENANCY, "shape": A1, "displayName": "raw",
          "shapeConfig": {"ocpus": 1, "memoryInGBs": 6}, "createVnicDetails": {"subnetId": SUBNET_ID},
          "sourceDetails": {"sourceType": "image", "imageId": UBUNTU_ARM_NEW}}


def assert_not_authenticated(answer: requests.Response) -> None:
    assert answer.status_code == 401
    assert answer.json()["code"] == "NotAuthenticated" and answer.json()["message"]
    assert answer.headers["opc-request-id"]


def test_a_correctly_signed_request_is_answered_in_ocis_json(oci_box):
    answer = requests.get(url(oci_box, f"availabilityDomains?compartmentId={TENANCY}"), auth=signer(oci_box))
    assert answer.status_code == 200 and answer.headers["opc-request-id"]
    assert [ad["name"] for ad in answer.json()] == ["Uocm:AP-CHUNCHEON-1-AD-1", "Uocm:AP-CHUNCHEON-1-AD-2"]


def test_an_unsigned_request_is_refused(oci_box):
    assert_not_authenticated(requests.get(url(oci_box, f"instances?compartmentId={TENANCY}")))


def test_a_request_signed_with_another_key_is_refused(oci_box, tmp_path):
    from responder.sandbox.oci_setup import write_private_key
    from responder.sandbox.oci_sign import new_api_key

    other = write_private_key(new_api_key().private_pem, tmp_path)
    assert_not_authenticated(requests.get(url(oci_box, f"instances?compartmentId={TENANCY}"),
                                          auth=signer(oci_box, key_file=other)))


def test_an_unknown_fingerprint_is_refused(oci_box):
    unknown = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"
    assert_not_authenticated(requests.get(url(oci_box, f"instances?compartmentId={TENANCY}"),
                                          auth=signer(oci_box, fingerprint=unknown)))


def test_a_body_changed_after_signing_is_refused_and_launches_nothing(oci_box):
    prepared = requests.Request("POST", url(oci_box, "instances"), data=json.dumps(LAUNCH)).prepare()
    signer(oci_box)(prepared)
    prepared.body = json.dumps(dict(LAUNCH, shapeConfig={"ocpus": 4, "memoryInGBs": 24}))
    prepared.headers["content-length"] = str(len(prepared.body))
    assert_not_authenticated(requests.Session().send(prepared))
    assert oci_box.emulator.world.instances == {}


def test_a_signed_query_changed_after_signing_is_refused(oci_box):
    prepared = requests.Request("GET", url(oci_box, f"instances?compartmentId={TENANCY}")).prepare()
    signer(oci_box)(prepared)
    prepared.url = url(oci_box, f"instances?compartmentId={TENANCY}&displayName=x")
    assert_not_authenticated(requests.Session().send(prepared))


def test_a_date_more_than_five_minutes_old_is_refused(oci_box):
    prepared = requests.Request("GET", url(oci_box, f"instances?compartmentId={TENANCY}")).prepare()
    prepared.headers["date"] = email.utils.formatdate(time.time() - 600, usegmt=True)
    signer(oci_box)(prepared)  # signs the old date as given
    assert_not_authenticated(requests.Session().send(prepared))
    fresh = requests.Request("GET", url(oci_box, f"instances?compartmentId={TENANCY}")).prepare()
    fresh.headers["date"] = email.utils.formatdate(time.time() - 120, usegmt=True)
    signer(oci_box)(fresh)
    assert requests.Session().send(fresh).status_code == 200


def test_a_launch_boots_after_the_boot_time_and_the_retry_token_replays_it(oci_box):
    headers = {"opc-retry-token": "raw-token"}
    first = requests.post(url(oci_box, "instances"), json=LAUNCH, headers=headers, auth=signer(oci_box))
    assert first.status_code == 200 and first.json()["lifecycleState"] == "PROVISIONING"
    again = requests.post(url(oci_box, "instances"), json=LAUNCH, headers=headers, auth=signer(oci_box))
    assert again.json()["id"] == first.json()["id"]
    other = requests.post(url(oci_box, "instances"), json=dict(LAUNCH, displayName="other"), headers=headers,
                          auth=signer(oci_box))
    assert other.status_code == 409 and other.json()["code"] == "InvalidatedRetryToken"
    oci_box.clock.advance(60)
    got = requests.get(url(oci_box, f"instances/{first.json()['id']}"), auth=signer(oci_box)).json()
    assert got["lifecycleState"] == "RUNNING" and got["shapeConfig"]["memoryInGBs"] == 6


def test_list_instances_filters_by_state_and_pages_with_opc_next_page(oci_box):
    for n in range(3):
        requests.post(url(oci_box, "instances"), json=dict(LAUNCH, displayName=f"p{n}", shapeConfig={"ocpus": 1}),
                      auth=signer(oci_box))
    first = requests.get(url(oci_box, f"instances?compartmentId={TENANCY}&limit=2"), auth=signer(oci_box))
    assert len(first.json()) == 2 and first.headers["opc-next-page"]
    rest = requests.get(url(oci_box, f"instances?compartmentId={TENANCY}&limit=2&page={first.headers['opc-next-page']}"),
                        auth=signer(oci_box))
    assert len(rest.json()) == 1 and "opc-next-page" not in rest.headers
    running = requests.get(url(oci_box, f"instances?compartmentId={TENANCY}&lifecycleState=RUNNING"),
                           auth=signer(oci_box))
    assert running.json() == []


def test_list_images_sorts_newest_first_and_filters_by_shape(oci_box):
    answer = requests.get(url(oci_box, f"images?compartmentId={TENANCY}&operatingSystem=Canonical%20Ubuntu"
                                       f"&shape={A1}&sortBy=TIMECREATED&sortOrder=DESC"), auth=signer(oci_box))
    names = [i["displayName"] for i in answer.json()]
    assert names == ["Canonical-Ubuntu-22.04-aarch64-2024.06.01-0", "Canonical-Ubuntu-22.04-aarch64-2024.01.01-0"]


def test_an_unknown_instance_answers_ocis_404(oci_box):
    answer = requests.get(url(oci_box, "instances/ocid1.instance.oc1.nosuch"), auth=signer(oci_box))
    assert answer.status_code == 404 and answer.json()["code"] == "NotAuthorizedOrNotFound"


def test_a_malformed_oci_section_names_the_field():
    from responder.sandbox.scenario import ScenarioError, load_scenario

    broken = {"oci": {k: v for k, v in OCI_SCENARIO["oci"].items() if k != "region"}}
    with pytest.raises(ScenarioError, match="oci: missing 'region'"):
        load_scenario(broken)


# -- `responder sandbox`: the shared port, the printed settings, the key file -----------------
def test_the_shared_sandbox_prints_oci_settings_a_dotenv_can_use(tmp_path):
    from responder.clouds.factory import clouds_from_settings, unconfigured_clouds
    from responder.sandbox.scenario import load_scenario
    from responder.sandbox.shared import SharedSandbox, export_lines
    from responder.settings import Settings

    with SharedSandbox(load_scenario(OCI_SCENARIO), key_dir=str(tmp_path)) as box:
        env = dict(line.removeprefix("export ").split("=", 1) for line in export_lines(box) if "OCI" in line)
        assert env["RESPONDER_OCI_ENDPOINT"] == f"http://{box.address}/oci"
        assert env["OCI_REGION"] == REGION and env["OCI_TENANCY_OCID"] == TENANCY
        key = env["OCI_KEY_FILE"]
        assert os.path.dirname(key) == str(tmp_path) and "PRIVATE KEY" in open(key).read()
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        settings = Settings.from_env(env, dotenv=False)  # RESPONDER_CLOUDS unset: OCI_USER_OCID adds oci
        assert "oci" in settings.clouds and "oci" not in unconfigured_clouds(settings)
        cloud = clouds_from_settings(settings)["oci"]
        assert cloud.availability_domains(REGION)[0] == AD1
        assert box.state()["oci"] == {"instances": []}
        assert box.calls()["oci"][0]["action"] == "ListAvailabilityDomains"


def test_serve_with_sandbox_configures_oci_in_process():
    from responder.cli import build_runtime
    from responder.settings import Settings

    settings, store, clouds, box = build_runtime(True, None, None, Settings(), only=("oci",))
    try:
        assert "oci" in settings.clouds and settings.oci_endpoint == box.oci.endpoint
        assert settings.oci_key_file == box.oci.key_file and settings.oci_region == "ap-chuncheon-1"
        assert clouds["oci"].availability_domains("ap-chuncheon-1") == ["Uocm:AP-CHUNCHEON-1-AD-1"]
    finally:
        box.stop()


@pytest.mark.parametrize("body", ["[1, 2]", "not json", json.dumps(dict(LAUNCH, sourceDetails="ocid1.image"))])
def test_a_malformed_launch_body_is_a_400_and_launches_nothing(oci_box, body):
    answer = requests.post(url(oci_box, "instances"), data=body, auth=signer(oci_box))
    assert answer.status_code == 400 and answer.json()["code"] in ("CannotParseRequest", "InvalidParameter")
    assert oci_box.emulator.world.instances == {}


# -- the verifier against any change to a signed request -------------------------------------
_KEYS: dict = {}


def _signed(tmp_dir: str):
    """A LaunchInstance request signed by the SDK's signer, and the key that verifies it (made once)."""
    from oci.signer import Signer

    from responder.sandbox.oci_setup import write_private_key
    from responder.sandbox.oci_sign import load_public_key, new_api_key

    if not _KEYS:
        key = new_api_key()
        _KEYS.update(key=key, file=write_private_key(key.private_pem, tmp_dir))
    prepared = requests.Request("POST", "http://127.0.0.1:9/oci/20160918/instances?x=1", data=json.dumps(LAUNCH)).prepare()
    Signer(TENANCY, "ocid1.user.oc1..u", _KEYS["key"].fingerprint, _KEYS["file"])(prepared)
    return prepared, f"{TENANCY}/ocid1.user.oc1..u/{_KEYS['key'].fingerprint}", load_public_key(_KEYS["key"].public_pem)


def _check(prepared, key_id, public_key, method=None, target=None, body=None, host="127.0.0.1:9"):
    """verify() on the request as the server would see it (requests adds Host when sending)."""
    from requests.structures import CaseInsensitiveDict

    from responder.sandbox.oci_sign import verify

    target = target if target is not None else prepared.path_url
    verify(prepared.headers["authorization"], method or prepared.method, target,
           CaseInsensitiveDict({**prepared.headers, "host": host}),
           body if body is not None else prepared.body.encode(), key_id, public_key)


def test_the_sdks_own_signature_verifies(tmp_path):
    _check(*_signed(str(tmp_path)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(part=st.sampled_from(["method", "target", "body", "date", "host", "key_id"]), at=st.integers(0, 400),
       char=st.characters(min_codepoint=33, max_codepoint=126))
def test_any_change_to_a_signed_request_is_refused(tmp_path, part, at, char):
    from responder.sandbox.oci_sign import SignatureError

    prepared, key_id, public_key = _signed(str(tmp_path))

    def changed(text: str) -> str:
        i = at % len(text)
        return text[:i] + (char if text[i] != char else chr(33 + (ord(char) - 32) % 94)) + text[i + 1:]

    kwargs = {}
    if part == "method":
        kwargs["method"] = "PUT"
    elif part == "target":
        kwargs["target"] = changed(prepared.path_url)
    elif part == "body":
        kwargs["body"] = changed(prepared.body).encode()
    elif part == "date":
        prepared.headers["date"] = changed(prepared.headers["date"])
    elif part == "host":
        kwargs["host"] = "127.0.0.1:10"
    else:
        key_id = changed(key_id)
    with pytest.raises(SignatureError):
        _check(prepared, key_id, public_key, **kwargs)


def test_each_instance_gets_a_primary_vnic_in_its_subnet_read_through_the_sdk(oci_box):
    import oci

    config = {"user": oci_box.env["OCI_USER_OCID"], "fingerprint": oci_box.env["OCI_FINGERPRINT"],
              "tenancy": TENANCY, "region": oci_box.env["OCI_REGION"], "key_file": oci_box.env["OCI_KEY_FILE"]}
    endpoint = oci_box.env["RESPONDER_OCI_ENDPOINT"]
    compute = oci.core.ComputeClient(config, service_endpoint=endpoint, retry_strategy=oci.retry.NoneRetryStrategy())
    network = oci.core.VirtualNetworkClient(config, service_endpoint=endpoint,
                                            retry_strategy=oci.retry.NoneRetryStrategy())
    made = [requests.post(url(oci_box, "instances"), json=dict(LAUNCH, displayName=f"v{n}"),
                          auth=signer(oci_box)).json()["id"] for n in range(2)]
    provisioning = compute.list_vnic_attachments(TENANCY, instance_id=made[0]).data
    assert [(a.lifecycle_state, a.subnet_id, a.vnic_id) for a in provisioning] == [("ATTACHING", SUBNET_ID, None)]
    oci_box.clock.advance(60)
    ips = []
    for instance_id in made:
        (attachment,) = compute.list_vnic_attachments(TENANCY, instance_id=instance_id).data
        assert (attachment.lifecycle_state, attachment.instance_id, attachment.availability_domain) == \
            ("ATTACHED", instance_id, AD1)
        vnic = network.get_vnic(attachment.vnic_id).data
        assert (vnic.is_primary, vnic.subnet_id, vnic.lifecycle_state) == (True, SUBNET_ID, "AVAILABLE")
        ips.append(vnic.private_ip)
    assert ips == ["10.0.0.2", "10.0.0.3"]  # from the subnet's CIDR, the reserved first two skipped
    assert len(compute.list_vnic_attachments(TENANCY).data) == 2
    with pytest.raises(oci.exceptions.ServiceError) as missing:
        compute.list_vnic_attachments("")  # an empty compartmentId: OCI refuses it
    assert (missing.value.status, missing.value.code) == (400, "MissingParameter")
    compute.terminate_instance(made[0])
    oci_box.clock.advance(30)
    (gone,) = compute.list_vnic_attachments(TENANCY, instance_id=made[0]).data
    assert (gone.lifecycle_state, gone.subnet_id) == ("DETACHED", SUBNET_ID)  # still listed, still names the subnet
    with pytest.raises(oci.exceptions.ServiceError) as deleted:
        network.get_vnic(gone.vnic_id)
    assert deleted.value.status == 404
    unsigned = requests.get(url(oci_box, f"vnicAttachments?compartmentId={TENANCY}"))
    assert_not_authenticated(unsigned)
    assert_not_authenticated(requests.get(url(oci_box, f"vnics/{gone.vnic_id}")))
