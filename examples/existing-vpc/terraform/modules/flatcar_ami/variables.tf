variable "release_channel" {
  type        = string
  description = "Flatcar Container Linux release channel whose newest image to use: stable, beta or alpha."
  default     = "stable"

  validation {
    condition     = contains(["stable", "beta", "alpha"], var.release_channel)
    error_message = "release_channel must be one of stable, beta, alpha."
  }
}
