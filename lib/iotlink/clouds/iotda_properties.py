"""IoTDA properties beyond one service's report: several services in one
report, and the answer to a property get (imported when one arrives)."""

from . import dumps
from .iotda import service_entry, check_size, REPORT_MAX


def report_services(cloud, services, now):
    """Several services in one report: ``{service_id: {name: value}}``."""
    body = dumps({"services": [service_entry(cloud, k, v, now) for k, v in services.items()]})
    return cloud._t_report, check_size(body, REPORT_MAX, "property report")


def get_answer(cloud, req, result, err):
    """The body of a property get answer."""
    if err is not None:
        ss = []
    elif result is not None and isinstance(result.get("services"), list):
        ss = result["services"]  # the handler built the IoTDA list itself
    elif req.service == "*":   # {service: values} for every service
        ss = [{"service_id": k or cloud.service, "properties": v}
              for k, v in (result or {}).items() if isinstance(v, dict)]
    else:
        ss = [{"service_id": req.service or cloud.service, "properties": result or {}}]
    return {"services": ss}
