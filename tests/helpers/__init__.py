"""What several test files share: fake and recorded runs, real processes, small host apps."""
