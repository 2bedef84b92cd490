"""AssignPrivateIpAddresses in the EC2 emulator: an address still held by another interface is
refused, as EC2 does, where moto hands it out twice.

Rule and source: "Error codes for the Amazon EC2 API" — InvalidIPAddress.InUse, "The specified IP
address is already in use"; AssignPrivateIpAddresses reassigns an address held elsewhere only with
AllowReassignment=true (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AssignPrivateIpAddresses.html).
A terminated instance's primary interface is deleted with it, which frees its addresses (the
interface EC2 creates at launch has DeleteOnTermination true, "Elastic network interfaces": moto
keeps it, so it is skipped here); a stopped instance keeps them.
"""

from __future__ import annotations

from responder.sandbox.aws_wire import Ec2Error


def assign_private_ip_addresses(call) -> tuple[int, bytes]:
    target = call.params.get("NetworkInterfaceId", "")
    wanted = [v for k, v in sorted(call.params.items()) if k.startswith("PrivateIpAddress.")]
    if call.params.get("AllowReassignment", "false").lower() != "true":
        for eni in call.backend.get_all_network_interfaces():
            if eni.instance is not None and eni.instance.state == "terminated" and eni.device_index == 0:
                continue  # deleted with its instance on EC2
            held = {a.get("PrivateIpAddress") for a in eni.private_ip_addresses} | {eni.private_ip_address}
            clash = next((ip for ip in wanted if ip in held), None)
            if clash and eni.id != target:
                raise Ec2Error("InvalidIPAddress.InUse", f"Address {clash} is in use.", 400)
    return call.forward()


PRIVATE_IP_HANDLERS = {"AssignPrivateIpAddresses": assign_private_ip_addresses}
