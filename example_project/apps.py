from django.apps import AppConfig


class ExampleConfig(AppConfig):
    name = "example_project"
    label = "example_project"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 - connects the demo receivers
