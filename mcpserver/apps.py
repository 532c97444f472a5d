from django.apps import AppConfig


class McpServerConfig(AppConfig):
    name = "mcpserver"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from mcpserver import principal_cache

        # Every connection's committed writes to the tables Principals are built from move the auth epoch.
        connection_created.connect(principal_cache.install, dispatch_uid="principal_cache.install")
