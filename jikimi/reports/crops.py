"""The face alone: a crop a reviewer can judge identity from without seeing the body."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy.orm import Session

from jikimi.errors import JikimiError
from jikimi.limits import Limits
from jikimi.media.images import open_image
from jikimi.media.video import sample_frames
from jikimi.store.models import ContentFace
from jikimi.workspace import Workspace

CROP_MARGIN = 0.25  # of the face box, each side: forehead and chin, not the shoulders
CROP_SIDE = 160


def face_crop_jpeg(ws: Workspace, session: Session, face_id: int) -> bytes:
    face = session.get(ContentFace, face_id)
    if face is None:
        raise JikimiError(f"no face with id {face_id}")
    with ws.vault.plain_file(face.sha256) as path:
        if face.frame_time is None:
            picture = open_image(path, Limits())
        else:
            frame = next((rgb for time, rgb in sample_frames(path, Limits()) if abs(time - face.frame_time) < 1e-3),
                         None)
            if frame is None:
                raise JikimiError(f"frame at {face.frame_time:.1f} s not found in the video")
            picture = Image.fromarray(frame)
    box = face.box
    margin_x = (box["right"] - box["left"]) * CROP_MARGIN
    margin_y = (box["bottom"] - box["top"]) * CROP_MARGIN
    crop = picture.crop((
        max(0, int(box["left"] - margin_x)), max(0, int(box["top"] - margin_y)),
        min(picture.width, int(box["right"] + margin_x)), min(picture.height, int(box["bottom"] + margin_y)),
    ))
    crop.thumbnail((CROP_SIDE, CROP_SIDE))
    buffer = io.BytesIO()
    crop.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()
