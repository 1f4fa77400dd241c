"""torch network definitions (development side): tokenizer, language model, encoders."""
