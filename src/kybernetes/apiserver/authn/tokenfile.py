"""Static bearer tokens from `--token-auth-file` (upstream's `tokenfile` authenticator).

The file is CSV, one user per record: `token,user,uid[,"group1,group2"]`. It is read once at
start; a record with fewer than three columns fails the start with upstream's message, an
empty token is skipped and a repeated token's last record wins (upstream warns of both).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

from kybernetes.apiserver.authn.tokens import TokenResponse
from kybernetes.apiserver.authn.user import UserInfo

log = logging.getLogger(__name__)


class TokenFile:
    def __init__(self, users: dict[str, UserInfo]) -> None:
        self.users = users

    @classmethod
    def load(cls, path: Path) -> TokenFile:
        users: dict[str, UserInfo] = {}
        with open(path, newline="", encoding="utf-8") as handle:
            number = 0
            for record in csv.reader(handle):
                if not record:
                    continue
                if len(record) < 3:
                    raise ValueError(
                        f"token file '{path}' must have at least 3 columns (token, user name, "
                        f"user uid), found {len(record)}")
                number += 1
                token, name, uid = record[:3]
                if not token:
                    log.warning("empty token has been found in token file '%s', record number "
                                "'%d'", path, number)
                    continue
                if token in users:
                    log.warning("duplicate token has been found in token file '%s', record "
                                "number '%d'", path, number)
                groups = tuple(record[3].split(",")) if len(record) >= 4 else ()
                users[token] = UserInfo(name, uid, groups)
        return cls(users)

    async def authenticate_token(self, token: str, audiences: Sequence[str]
                                 ) -> TokenResponse | None:
        user = self.users.get(token)
        return None if user is None else TokenResponse(user)
