"""Zips a directory's contents (sorted, deflated) into DIR.zip: `python deploy/zipdir.py DIR`."""
import os
import sys
import zipfile

source = sys.argv[1].rstrip("/")
with zipfile.ZipFile(f"{source}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
    for root, dirs, files in os.walk(source):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            archive.write(path, os.path.relpath(path, source))
