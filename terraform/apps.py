from django.apps import AppConfig


class TerraformConfig(AppConfig):
    name = "terraform"
    verbose_name = "Terraform tools"
