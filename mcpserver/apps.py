from django.apps import AppConfig


class McpServerConfig(AppConfig):
    name = "mcpserver"
    default_auto_field = "django.db.models.BigAutoField"
