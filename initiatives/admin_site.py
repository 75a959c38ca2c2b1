"""The project's admin site: members of a department or of a plan's secretariat are let in
by their membership, without ``is_staff`` being set by hand (their model permissions come
from ``initiatives.backends.RoleBackend``, what they see and do from ``evaluations.policy``).

Installed by ``DxAdminConfig``, which replaces ``"django.contrib.admin"`` in
``INSTALLED_APPS``; ``admin.site`` and ``@admin.register`` then use ``DxAdminSite``. This
module is imported while the apps load: it imports no models at module level.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.utils.functional import cached_property


def may_use_admin(user) -> bool:
    from initiatives.backends import is_member

    return bool(user.is_active and (user.is_staff or is_member(user)))


class DxAdminSite(admin.AdminSite):
    site_header = "DX推進計画 進行管理"
    site_title = "DX推進計画 進行管理"
    index_title = "管理メニュー"
    site_url = None  # the project serves no site besides the API and the admin

    def has_permission(self, request: HttpRequest) -> bool:
        return may_use_admin(request.user)

    @cached_property
    def login_form(self):
        from django.contrib.admin.forms import AdminAuthenticationForm

        class MemberAuthenticationForm(AdminAuthenticationForm):
            """Staff, and members of a department or a secretariat, may log in."""

            def confirm_login_allowed(self, user) -> None:
                if may_use_admin(user):
                    return
                super().confirm_login_allowed(user)

        return MemberAuthenticationForm


class DxAdminConfig(AdminConfig):
    default_site = "initiatives.admin_site.DxAdminSite"
