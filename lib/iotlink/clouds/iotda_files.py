"""IoTDA file upload and download ($file_manager): the events/up requests and
result reports, and the URL answers.  Pure: drivers/iotda_files.py moves the
bytes (HTTP PUT / GET to the object store URL the platform hands out).

  up   get_upload_url      {file_name, file_attributes: {hash_code, size}}
  down get_upload_url_response   {url, bucket_name, object_name, expire, file_attributes}
  up   upload_result_report      {object_name, result_code, status_code, status_description}
  and the same for download (get_download_url, get_download_url_response,
  download_result_report).  ``hash_code`` is the SHA-256 hex of the file.
"""

from .iotda_events import event_up

SERVICE = "$file_manager"


def _attrs(sha256, size):
    return {"hash_code": sha256, "size": size}


def get_upload_url(cloud, name, sha256, size, now, target=None):
    return event_up(cloud, SERVICE, "get_upload_url",
                    {"file_name": name, "file_attributes": _attrs(sha256, size)}, now, target)


def get_download_url(cloud, name, now, target=None):
    return event_up(cloud, SERVICE, "get_download_url", {"file_name": name}, now, target)


def result(cloud, upload, name, ok, status_code, description, now, target=None):
    """upload_result_report / download_result_report: result_code 0 done, 1 failed."""
    return event_up(cloud, SERVICE, "upload_result_report" if upload else "download_result_report",
                    {"object_name": name, "result_code": 0 if ok else 1,
                     "status_code": status_code, "status_description": description[:128]},
                    now, target)


def answer(req, upload, name):
    """(url, object name, file_attributes dict) from a $file_manager event
    Request answering ``name``; None when it is another answer; ValueError
    when it is this answer but carries no usable URL."""
    if req.service != SERVICE or req.name != ("get_upload_url_response" if upload
                                              else "get_download_url_response"):
        return None
    p = req.params if isinstance(req.params, dict) else {}
    obj = p.get("object_name")
    if obj is not None and obj != name:
        return None
    url = p.get("url")
    if not isinstance(url, str) or not (url.startswith("https://") or url.startswith("http://")):
        raise ValueError("the platform sent no %s URL for %s" % ("upload" if upload else "download", name))
    attrs = p.get("file_attributes")
    return url, obj or name, attrs if isinstance(attrs, dict) else {}
