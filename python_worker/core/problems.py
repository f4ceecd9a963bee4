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
        "Адрес «{value}» недопустим: нужен IPv4-адрес (четыре десятичных числа), IPv6-адрес без зоны "
        "или DNS-имя из латинских букв, цифр, «-» и «.».",
        "Host '{value}' is invalid: give an IPv4 address (four decimal numbers), an IPv6 address without a zone, "
        "or a DNS name of letters, digits, '-' and '.'.",
    ),
    "E_HOST_UNUSABLE": (
        "Адрес {value} не может быть адресом станции (неопределённый, групповой, широковещательный, "
        "локальный для канала или зарезервированный).",
        "Address {value} cannot be a station's address (unspecified, multicast, broadcast, link-local or "
        "reserved).",
    ),
    "E_TEXT_INVALID": (
        "Текст длиннее {limit} символов или содержит управляющие символы.",
        "The text is longer than {limit} characters or contains control characters.",
    ),
    "E_KEY_INVALID": (
        "Открытый ключ синхронизации повреждён: нужны 40 символов Z85.",
        "The sync public key is damaged: 40 Z85 characters are needed.",
    ),
    "E_VALUE_INVALID": (
        "Значение поля {detail} недопустимо: {reason}.",
        "The value of field {detail} is invalid: {reason}.",
    ),
    "E_CHANGE_DROPS_PEER": (
        "Изменение не сохранено: работающая станция «{value}» перестала бы работать (причина — в её "
        "проблемах). Сначала измените или отключите её, или подтвердите изменение.",
        "Not saved: working peer '{value}' would stop working (its own problems say why). Change or disable "
        "it first, or confirm the change.",
    ),
    "W_CHANGE_DROPS_PEER": (
        "Подтверждено: станция «{value}» больше не настраивается.",
        "Confirmed: peer '{value}' is no longer configured.",
    ),
    "E_DB_BUSY": (
        "База {detail} занята другим процессом дольше {limit} с; ничего не изменено, повторите позже.",
        "Database {detail} stayed locked by another process for over {limit} s; nothing changed, try again.",
    ),
    "E_DB_DAMAGED": (
        "База {detail} повреждена или неполна ({reason}); последняя рабочая конфигурация сохранена.",
        "Database {detail} is damaged or incomplete ({reason}); the last good configuration stays.",
    ),
    "E_STATE_WRITE_FAILED": (
        "Не удалось записать файлы состояния в {detail} ({reason}); ничего не изменено.",
        "The state files in {detail} could not be written ({reason}); nothing changed.",
    ),
    "E_PAIR_FAILED": (
        "Станция «{value}» не смогла сохранить сопряжение ({reason}); приглашение осталось действительным, "
        "повторите.",
        "Station '{value}' could not store the pairing ({reason}); the invitation is still valid, try again.",
    ),
    "E_REQUEST_INVALID": (
        "Запрос не разобран: {reason}.",
        "The request cannot be read: {reason}.",
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
        "Пароль транка длиннее {limit} символов или содержит недопустимые символы (пробелы, ; # [ ] \" \\ "
        "или управляющие).",
        "The trunk secret is longer than {limit} characters or contains characters that are not allowed "
        "(spaces, ; # [ ] \" \\ or control).",
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
    # ---- the station's public number, PSTN fallback, transit (issue #15): each text names its field ----
    "E_PUBLIC_NUMBER_INVALID": (
        "Публичный номер станции «{value}» недопустим: только цифры (впереди можно +), до 16.",
        "Station public number '{value}' is invalid: digits only (a leading + allowed), up to 16.",
    ),
    "E_PUBLIC_TRIM_INVALID": (
        "Публичный номер: «отрезать цифр у внутреннего номера» — целое число от 0 до {limit}.",
        "Public number: digits to trim from an extension must be a whole number from 0 to {limit}.",
    ),
    "E_PUBLIC_PREPEND_INVALID": (
        "Префикс публичного номера «{value}» недопустим: только цифры (впереди можно +), до 16.",
        "Public number prefix '{value}' is invalid: digits only (a leading + allowed), up to 16.",
    ),
    "E_FALLBACK_PROVIDER_MISSING": (
        "Резервный выход в город: не выбран провайдер.",
        "PSTN fallback: no provider chosen.",
    ),
    "E_FALLBACK_PROVIDER_UNKNOWN": (
        "Провайдер резервного выхода «{value}» не найден среди SIP-провайдеров этой станции.",
        "Fallback provider '{value}' is not one of this station's SIP providers.",
    ),
    "E_FALLBACK_PROVIDER_FEDERATION": (
        "Провайдер резервного выхода «{value}» — транк федерации; нужен провайдер в телефонную сеть.",
        "Fallback provider '{value}' is a federation trunk; choose a provider to the public network.",
    ),
    "E_FALLBACK_PROVIDER_DISABLED": (
        "Провайдер резервного выхода «{value}» отключён.",
        "Fallback provider '{value}' is disabled.",
    ),
    "E_FALLBACK_TRIM_INVALID": (
        "Резервный выход: «отрезать цифр» — целое число от 0 до {limit}.",
        "Fallback: digits to trim must be a whole number from 0 to {limit}.",
    ),
    "E_FALLBACK_PREPEND_INVALID": (
        "Резервный выход: префикс «{value}» недопустим: только цифры (впереди можно +), до 16.",
        "Fallback prefix '{value}' is invalid: digits only (a leading + allowed), up to 16.",
    ),
    "E_FALLBACK_REWRITE_OUTSIDE_ROUTES": (
        "Резервный выход: номер {value} (из {other}) не подходит ни к одному исходящему маршруту провайдера "
        "«{detail}».",
        "Fallback: number {value} (from {other}) matches none of the outgoing routes of provider '{detail}'.",
    ),
    "E_FALLBACK_PUBLIC_NUMBER_MISSING": (
        "Резервный выход: у станции не задан публичный номер (настройки станции) — в городскую сеть ушёл бы "
        "короткий номер.",
        "Fallback: this station has no public number (station settings); the public network would see a short "
        "number.",
    ),
    "E_TRANSIT_PATTERNS_MISSING": (
        "Транзит: не заданы разрешённые номера.",
        "Transit: no allowed numbers given.",
    ),
    "E_TRANSIT_PATTERN_INVALID": (
        "Транзит: разрешённые номера «{value}» не разобраны: {reason}.",
        "Transit numbers '{value}' cannot be parsed: {reason}.",
    ),
    "E_TRANSIT_PATTERN_SHORT": (
        "Транзит: шаблон «{value}» короче {limit} цифр; экстренные и короткие служебные номера через соседа не "
        "пропускаются.",
        "Transit pattern '{value}' is shorter than {limit} digits: emergency and short service numbers are never "
        "allowed through a peer.",
    ),
    "E_TRANSIT_PATTERN_OVERLAP_LOCAL": (
        "Транзит: шаблон «{value}» пересекается с номерами этой станции ({other}).",
        "Transit pattern '{value}' overlaps this station's own numbers ({other}).",
    ),
    "E_TRANSIT_PROVIDER_MISSING": (
        "Транзит: не выбран провайдер.",
        "Transit: no provider chosen.",
    ),
    "E_TRANSIT_PROVIDER_UNKNOWN": (
        "Провайдер транзита «{value}» не найден среди SIP-провайдеров этой станции.",
        "Transit provider '{value}' is not one of this station's SIP providers.",
    ),
    "E_TRANSIT_PROVIDER_FEDERATION": (
        "Провайдер транзита «{value}» — транк федерации; нужен провайдер в телефонную сеть.",
        "Transit provider '{value}' is a federation trunk; choose a provider to the public network.",
    ),
    "E_TRANSIT_PROVIDER_DISABLED": (
        "Провайдер транзита «{value}» отключён.",
        "Transit provider '{value}' is disabled.",
    ),
    "E_TRANSIT_PROVIDER_INBOUND": (
        "Провайдер транзита «{value}» сам регистрируется на этой станции; нужен провайдер, через который "
        "станция звонит.",
        "Transit provider '{value}' registers to this station (inbound); choose one this station calls out "
        "through.",
    ),
    "E_TRANSIT_LIMIT_INVALID": (
        "Транзит: предел одновременных звонков — целое число от 1 до {limit} (пусто — без предела).",
        "Transit: the cap on concurrent calls must be a whole number from 1 to {limit} (empty: no cap).",
    ),
    "E_TRANSIT_CALLERID_INVALID": (
        "Транзит: номер звонящего «{value}» недопустим: только цифры (впереди можно +), до 16.",
        "Transit caller number '{value}' is invalid: digits only (a leading + allowed), up to 16.",
    ),
    "E_TRANSIT_CALLERID_MISSING": (
        "Транзит: не задан номер звонящего, и у станции нет публичного номера (настройки станции); короткий "
        "номер в телефонную сеть не отправляется.",
        "Transit: no caller number given and this station has no public number (station settings); a short "
        "number is never sent to the public network.",
    ),
    "E_VIA_PATTERN_INVALID": (
        "Номера через соседа «{value}» не разобраны: {reason}.",
        "Numbers through this peer '{value}' cannot be parsed: {reason}.",
    ),
    "E_VIA_PATTERN_SHORT": (
        "Номера через соседа: шаблон «{value}» короче {limit} цифр; экстренные и короткие номера через соседа "
        "не звонят.",
        "Numbers through this peer: pattern '{value}' is shorter than {limit} digits: emergency and short "
        "numbers never go through a peer.",
    ),
    "E_VIA_PATTERN_OVERLAP_LOCAL": (
        "Номера через соседа: шаблон «{value}» пересекается с номерами этой станции ({other}).",
        "Numbers through this peer: pattern '{value}' overlaps this station's own numbers ({other}).",
    ),
    "E_VIA_PATTERN_OVERLAP_PEER": (
        "Номера через соседа: шаблон «{value}» пересекается с шаблоном «{other}» станции «{other_peer}».",
        "Numbers through this peer: pattern '{value}' overlaps pattern '{other}' of peer '{other_peer}'.",
    ),
    "W_FALLBACK_ROUTE_ORDER": (
        "Маршрут «{detail}» (резервный выход к «{value}») стоит выше маршрута транка и не сработает; "
        "перетащите его ниже.",
        "Route '{detail}' (fallback to '{value}') is ordered above the trunk's route and will never be used; "
        "drag it below.",
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
            "peer": None if self.peer is None else shown(self.peer),
            "field": self.field,
            "params": dict(self.params),
            "message": {"ru": self.message("ru"), "en": self.message("en")},
        }


MAX_PARAM = 200  # characters of one parameter as shown: a 1 MB value must not become a 1 MB log line


def shown(value: object, limit: int = MAX_PARAM) -> str:
    """A value as a problem shows it: control characters and lone surrogates escaped (a problem text can never
    start a new line in a log or a config), at most `limit` characters."""
    text = str(value)
    out = "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else c.encode("unicode_escape",
                  "backslashreplace").decode("ascii") for c in text[: limit + 1])
    return out if len(text) <= limit and len(out) <= limit else out[: limit - 1] + "…"


def problem(code: str, peer: str | None, field: str, **params: object) -> Problem:
    """Build a Problem; params are shown safely (see `shown`) and sorted so problems compare and hash stably."""
    if code not in MESSAGES:
        raise KeyError(code)
    return Problem(code, peer, field,
                   tuple(sorted((k, shown(v)) for k, v in params.items())))
