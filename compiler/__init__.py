"""infc: compile provider-neutral inference-service specs into Terraform JSON."""
