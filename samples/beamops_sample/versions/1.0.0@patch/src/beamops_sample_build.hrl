%% The hot patch of 1.0.0: every HTTP answer says it runs the patched code.
-define(BUILD_MARKS, #{patch => <<"1.0.0+patch">>}).
