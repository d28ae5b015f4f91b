"""API tokens in the admin: seen and revoked (deleted), never made or read back (only hashes are kept)."""

from django.contrib import admin

from labbook.api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["key_id", "user", "created_at", "expires_at"]
    list_filter = ["expires_at"]
    search_fields = ["key_id", "user__username"]
    readonly_fields = ["key_id", "user", "created_at", "expires_at"]
    exclude = ["digest", "password_mark"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
