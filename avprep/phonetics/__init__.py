"""Phone sets, visemes and forced aligners."""
