"""``create_api_key --plan CODE --role ROLE [--department CODE] [--name TEXT] [--expires DATE]``.

Creates an API key for another government system and prints the raw key once, alone on the
last line of stdout, so that a script can capture it::

    KEY=$(python manage.py create_api_key --plan akita-dx --role editor \\
        --department kikaku-shinko | tail -1)

What was made (name, prefix, role, department, expiry) goes to stderr. The key is stored
hashed: it cannot be shown again, only revoked (in the admin) and replaced.
"""

from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from initiatives.models import API_KEY_DEPARTMENT_ROLES, ApiKey, ApiKeyRole, Department, Plan

NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length


def parse_expiry(value: str) -> date:
    """``YYYY-MM-DD``, today or later: the last day the key works."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as error:
        raise CommandError(
            _("--expires '%(value)s' is not a date as YYYY-MM-DD.") % {"value": value}
        ) from error
    if day < timezone.localdate():
        raise CommandError(_("--expires %(value)s is in the past.") % {"value": value})
    return day


def default_name(role: str, scope: str) -> str:
    """``<role>-<department or plan code>-<today>``, within the name's 50 characters."""
    today = timezone.localdate().isoformat()
    room = NAME_MAX_LENGTH - len(role) - len(today) - 2
    return f"{role}-{scope[:room]}-{today}"


class Command(BaseCommand):
    help = (
        "Create an API key of a plan with a role (secretariat, editor, viewer or reader; "
        "editors and viewers optionally bound to one department) and print it once: only "
        "the key, on the last line of stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--plan", required=True, help="Plan code, e.g. akita-dx.")
        parser.add_argument(
            "--role",
            required=True,
            choices=ApiKeyRole.values,
            help=(
                "secretariat: the plan's secretariat; editor/viewer: of --department, or "
                "of every department of the plan; reader: what the public reads."
            ),
        )
        parser.add_argument(
            "--department",
            help="Department code of the plan (editor and viewer keys only), e.g. kikaku-shinko.",
        )
        parser.add_argument(
            "--name",
            help=f"A name for the key (at most {NAME_MAX_LENGTH} characters); by default "
            "<role>-<department or plan code>-<today>.",
        )
        parser.add_argument(
            "--expires",
            help="YYYY-MM-DD: the last day the key works (until midnight, "
            "server time). By default it does not expire.",
        )

    def handle(self, *args, plan: str, role: str, **options) -> None:
        plan_obj = Plan.objects.filter(code=plan).first()
        if plan_obj is None:
            raise CommandError(_("No plan '%(plan)s'.") % {"plan": plan})
        department = self._department(plan_obj, role, options["department"])
        name = options["name"]
        if name is None:
            name = default_name(role, department.code if department else plan_obj.code)
        elif not name.strip() or len(name) > NAME_MAX_LENGTH:
            raise CommandError(
                _("--name must be 1 to %(max)s characters.") % {"max": NAME_MAX_LENGTH}
            )
        expires = options["expires"]
        last_day = parse_expiry(expires) if expires is not None else None
        expiry_date = (
            timezone.make_aware(datetime.combine(last_day + timedelta(days=1), time.min))
            if last_day is not None
            else None
        )
        fields = {
            "name": name,
            "plan": plan_obj,
            "role": role,
            "department": department,
            "expiry_date": expiry_date,
        }
        try:  # the model's own rules, as the admin applies them
            ApiKey(**fields).full_clean(exclude=["id", "prefix", "hashed_key"])
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        key, raw_key = ApiKey.objects.create_key(**fields)

        if department is not None:
            scope = _(" of %(department)s (%(code)s)") % {
                "department": department.name,
                "code": department.code,
            }
        elif role in API_KEY_DEPARTMENT_ROLES:
            scope = _(" of every department")
        else:
            scope = ""
        until = (
            _("works until the end of %(day)s") % {"day": last_day.isoformat()}
            if last_day
            else _("no expiry")
        )
        created = _(
            "Created API key '%(name)s' (prefix %(prefix)s) of plan %(plan)s: %(role)s "
            "(%(label)s)%(scope)s; %(until)s. It is printed once, on stdout, and stored hashed."
        )
        values = {
            "name": key.name,
            "prefix": key.prefix,
            "plan": plan_obj.code,
            "role": role,
            "label": ApiKeyRole(role).label,
            "scope": scope,
            "until": until,
        }
        self.stderr.write(created % values, style_func=self.style.SUCCESS)
        self.stdout.write(raw_key)

    def _department(self, plan: Plan, role: str, code: str | None) -> Department | None:
        if code is None:
            return None
        if role not in API_KEY_DEPARTMENT_ROLES:
            raise CommandError(
                _(
                    "--department is only for editor and viewer keys; a %(role)s key acts for "
                    "the whole plan."
                )
                % {"role": role}
            )
        department = plan.departments.filter(code=code).first()
        if department is not None:
            return department
        elsewhere = Department.objects.filter(code=code).select_related("plan").first()
        if elsewhere is not None:
            raise CommandError(
                _("Department '%(code)s' is not of plan '%(plan)s' (it is of plan '%(other)s').")
                % {"code": code, "plan": plan.code, "other": elsewhere.plan.code}
            )
        raise CommandError(
            _("No department '%(code)s' in plan '%(plan)s'.") % {"code": code, "plan": plan.code}
        )
