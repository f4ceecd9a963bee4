"""Problems: values with a stable code, the peer and field they concern, and their text in the admin's languages.

The one catalog of problem texts: the PHP host and the admin page show the `message` each problem carries
(both languages), so no other layer keeps a copy. The severity is the code's: `E_` errors, `W_` warnings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


def admin_language(value: object) -> str:
    """The admin's language as this module speaks it: 'ru' for any Russian locale (ru, ru-ru, ru_RU), else 'en'."""
    return "ru" if str(value or "").strip().lower().startswith("ru") else "en"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


# code -> (Russian, English) templates; placeholders are filled from Problem.params.
MESSAGES: dict[str, tuple[str, str]] = {
    "E_NAME_INVALID": (
        "Имя «{value}» недопустимо: нужна латинская буква, затем буквы, цифры, «-» или «_», до 32 символов.",
        "Name '{value}' is invalid: a Latin letter, then letters, digits, '-' or '_', up to 32 characters.",
    ),
    "E_SELF_PEER": (
        "Станция «{value}» — это эта же станция; себя нельзя добавить соседом.",
        "Station '{value}' is this very station; it cannot be its own peer.",
    ),
    "E_DUPLICATE_PEER_NAME": (
        "Соседняя станция «{value}» объявлена дважды.",
        "Peer station '{value}' is declared twice.",
    ),
    "E_DUPLICATE_HOST_PORT": (
        "Адрес {value} уже указан у станции «{other}».",
        "Address {value} is already used by peer '{other}'.",
    ),
    "E_HOST_INVALID": (
        "Адрес «{value}» недопустим: нужен IP-адрес или DNS-имя.",
        "Host '{value}' is invalid: give an IP address or a DNS name.",
    ),
    "E_PORT_INVALID": (
        "Порт «{value}» недопустим: нужно число от 1 до 65535.",
        "Port '{value}' is invalid: give a number from 1 to 65535.",
    ),
    "E_TRANSPORT_INVALID": (
        "Транспорт «{value}» недопустим: udp, tcp или tls.",
        "Transport '{value}' is invalid: udp, tcp or tls.",
    ),
    "E_PATTERN_INVALID": (
        "Шаблон номеров «{value}» не разобран: {reason}.",
        "Extension pattern '{value}' cannot be parsed: {reason}.",
    ),
    "E_PATTERN_TOO_BROAD": (
        "Шаблоны «{value}» покрывают {count} номеров, допустимо не более {limit}.",
        "Patterns '{value}' cover {count} numbers; at most {limit} are allowed.",
    ),
    "E_PATTERN_OVERLAP_LOCAL": (
        "Шаблон «{value}» пересекается с номерами этой станции ({other}).",
        "Pattern '{value}' overlaps this station's own numbers ({other}).",
    ),
    "E_PATTERN_OVERLAP_PEER": (
        "Шаблон «{value}» пересекается с шаблоном «{other}» станции «{other_peer}».",
        "Pattern '{value}' overlaps pattern '{other}' of peer '{other_peer}'.",
    ),
    "E_SECRET_MISSING": (
        "Не задан общий пароль транка.",
        "The shared trunk secret is missing.",
    ),
    "E_SECRET_INVALID": (
        "Пароль транка содержит недопустимые символы (пробелы, ; # [ ] \" \\ или управляющие).",
        "The trunk secret contains characters that are not allowed (spaces, ; # [ ] \" \\ or control).",
    ),
    "E_OWN_PATTERNS_EMPTY": (
        "Не заданы номера этой станции, и их нельзя вывести из внутренних номеров.",
        "This station's own patterns are not set and cannot be derived from its extensions.",
    ),
    "E_PROVIDER_HOST_CONFLICT": (
        "Провайдер «{other}», созданный вручную, уже работает с адресом {value}.",
        "Provider '{other}', made by hand, already uses address {value}.",
    ),
    "W_SECRET_WEAK": (
        "Пароль транка короче {limit} символов; лучше сгенерировать новый.",
        "The trunk secret is shorter than {limit} characters; generate a stronger one.",
    ),
    "W_LOCAL_EXTENSION_IN_PEER_PATTERN": (
        "Внутренний номер {value} этой станции попадает в шаблон «{other}»: он перекроет номер соседа.",
        "Local extension {value} falls within peer pattern '{other}' and hides the peer's number.",
    ),
    "W_ADMIN_ROUTE_OVERLAP": (
        "Исходящий маршрут «{other}», созданный вручную, тоже подходит для номеров «{value}».",
        "Outgoing route '{other}', made by hand, also matches numbers of '{value}'.",
    ),
    "W_PEER_DISABLED": (
        "Станция «{value}» отключена и не настраивается.",
        "Peer '{value}' is disabled and not configured.",
    ),
    "E_INVITE_INVALID": (
        "Приглашение не разобрано: {reason}. Скопируйте текст целиком.",
        "The invitation cannot be read: {reason}. Copy the whole text.",
    ),
    "E_INVITE_EXPIRED": (
        "Приглашение станции «{value}» истекло {when}; попросите новое.",
        "The invitation from station '{value}' expired at {when}; ask for a new one.",
    ),
    "E_INVITE_USED": (
        "Приглашение станции «{value}» уже использовано; попросите новое.",
        "The invitation from station '{value}' has already been used; ask for a new one.",
    ),
    "E_INVITE_UNKNOWN": (
        "Станция «{value}» не выдавала такого приглашения (или оно отозвано).",
        "Station '{value}' did not issue this invitation (or it was withdrawn).",
    ),
    "E_INVITE_FORGED": (
        "Подпись приглашения не сошлась: текст изменён или подделан.",
        "The invitation's proof did not match: the text was altered or forged.",
    ),
    "E_PAIR_REFUSED": (
        "Станция «{value}» не может добавить эту станцию: {reason}",
        "Station '{value}' cannot add this station: {reason}",
    ),
    "E_SYNC_KEY_MISMATCH": (
        "Станция по адресу {value} не владеет ключом, закреплённым при сопряжении: соединение отклонено. "
        "Если станцию переустановили, сопрягите её заново.",
        "The station at {value} does not hold the key pinned at pairing: connection refused. "
        "If it was reinstalled, pair it again.",
    ),
    "E_SYNC_UNKNOWN_KEY": (
        "Станция «{value}» подключилась с ключом, который не закреплён за ней: отклонено.",
        "Station '{value}' connected with a key that is not the one pinned for it: refused.",
    ),
    "E_SYNC_UNREACHABLE": (
        "Станция по адресу {value} не отвечает на порту синхронизации.",
        "The station at {value} does not answer on its sync port.",
    ),
    "E_SYNC_PROTOCOL": (
        "Станция «{value}» говорит на версии протокола {other}, эта — {limit}: обновите модуль.",
        "Station '{value}' speaks sync protocol {other}, this one {limit}: update the module.",
    ),
    "W_PEER_MODULE_VERSION": (
        "На станции «{value}» модуль версии {other}, здесь {limit}.",
        "Station '{value}' runs module version {other}, this one {limit}.",
    ),
    "W_SYNC_DOWN": (
        "Станция «{value}» не отвечает на синхронизацию; её лампы показаны недоступными.",
        "Station '{value}' does not answer sync heartbeats; its lamps read Unavailable.",
    ),
    "W_REMOTE_EXTENSION_OUTSIDE_PATTERNS": (
        "Станция «{value}» сообщила {count} номер(ов) вне своих шаблонов ({other}); они не настраиваются.",
        "Station '{value}' announced {count} number(s) outside its patterns ({other}); they are not configured.",
    ),
    "W_ADMIN_FILTER_SAME_ADDRESS": (
        "Сетевой фильтр «{detail}», созданный вручную, уже описывает адрес станции «{value}»; модуль его не трогает.",
        "Network filter '{detail}', made by hand, already covers the address of peer '{value}'; left as it is.",
    ),
    "W_ADMIN_ROUTE_ON_MODULE_TRUNK": (
        "Маршрут «{detail}», созданный вручную, ведёт в транк станции «{value}», которым управляет модуль.",
        "Route '{detail}', made by hand, uses the trunk of peer '{value}', which the module manages.",
    ),
    "W_ADMIN_CUSTOM_FILE": (
        "Файл {detail} уже изменён вручную (Системный файл); Entity ID станции не записан — добавьте в него "
        "строку из records.json.",
        "File {detail} is already customised by hand (system file); the station's entity ID was not written: "
        "add the line from records.json yourself.",
    ),
    # Device states over the sync channel (issue 14): the worker's AMI account.
    "W_ADMIN_AMI_USER": (
        "Пользователь AMI «{detail}», созданный вручную, носит имя учётной записи модуля; модуль его не трогает, "
        "и лампы станций, связанных приглашением, не работают.",
        "AMI user '{detail}', made by hand, has the name of the module's account; it is left as it is, and the "
        "lamps of paired stations do not work.",
    ),
    "W_AMI_UNAVAILABLE": (
        "Модуль не может войти в AMI этой станции ({detail}); лампы станций, связанных приглашением, не "
        "обновляются. Проверьте, что AMI включён (Система → AMI).",
        "The module cannot log in to this station's AMI ({detail}); the lamps of paired stations do not change. "
        "Check that AMI is enabled (System → AMI).",
    ),
}


@dataclass(frozen=True, order=True)
class Problem:
    """One problem. `peer` is None for station-wide problems; `field` is the form field it concerns."""

    code: str
    peer: str | None
    field: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def severity(self) -> Severity:
        return Severity.ERROR if self.code.startswith("E_") else Severity.WARNING

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def message(self, lang: str = "en") -> str:
        ru, en = MESSAGES[self.code]
        template = ru if admin_language(lang) == "ru" else en
        return template.format(**dict(self.params))

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "peer": self.peer,
            "field": self.field,
            "params": dict(self.params),
            "message": {"ru": self.message("ru"), "en": self.message("en")},
        }


def problem(code: str, peer: str | None, field: str, **params: object) -> Problem:
    """Build a Problem; params are stringified and sorted so problems compare and hash stably."""
    if code not in MESSAGES:
        raise KeyError(code)
    return Problem(code, peer, field, tuple(sorted((k, str(v)) for k, v in params.items())))
